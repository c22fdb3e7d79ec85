package com.vhost.user.connection;

import com.vhost.api.VhostException;
import com.vhost.api.VhostNativeException;
import com.vhost.api.VhostProtocolException;
import com.vhost.api.VhostTimeoutException;
import com.vhost.spi.nativeio.Linux;
import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;

/**
 * The two ends of a device-state pipe (vhost-user spec, "Migrating back-end state": after
 * SET_DEVICE_STATE_FD the state flows through a pipe until its writer closes it), shared by the
 * front-end ({@code com.vhost.user.frontend.StateTransfer}) and the back-end server: write every
 * byte, or read to end of file, each bounded by a deadline and waiting with {@code poll}.
 */
public final class StatePipe {
    /** Bytes written per {@code write} after POLLOUT: at most PIPE_BUF, so it cannot block. */
    private static final int CHUNK = 4096;

    private StatePipe() {}

    /**
     * Writes all of {@code data} into {@code fd} (blocking or not), waiting for room with poll
     * until {@code deadlineNanos}.
     *
     * @param what names the transfer in errors
     * @throws VhostTimeoutException when the reader did not take the bytes in time
     * @throws VhostNativeException when poll or write fails (EPIPE: the reader closed)
     */
    public static void writeFully(int fd, byte[] data, long deadlineNanos, String what) throws VhostException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(CHUNK);
            int off = 0;
            while (off < data.length) {
                int ready = Linux.poll(fd, Linux.POLLOUT, remainingMs(deadlineNanos, what, off, data.length));
                if ((ready & (Linux.POLLERR | Linux.POLLHUP)) != 0 && (ready & Linux.POLLOUT) == 0) {
                    throw new VhostNativeException("write(" + what + ")", 32, "the reader closed the pipe after "
                            + off + " of " + data.length + " bytes");
                }
                if ((ready & Linux.POLLOUT) == 0) {
                    continue;
                }
                int n = Math.min(CHUNK, data.length - off);
                MemorySegment.copy(data, off, buf, ValueLayout.JAVA_BYTE, 0, n);
                long w = Linux.write(fd, buf, n);
                if (w > 0) {
                    off += (int) w;
                }
            }
        }
    }

    /**
     * Reads {@code fd} (blocking or not) until end of file, waiting with poll until
     * {@code deadlineNanos}.
     *
     * @param maxBytes more than this is refused
     * @param what names the transfer in errors
     * @return the bytes read
     * @throws VhostTimeoutException when the writer did not close in time
     * @throws VhostProtocolException when more than {@code maxBytes} arrive
     * @throws VhostNativeException when poll or read fails
     */
    public static byte[] readToEof(int fd, int maxBytes, long deadlineNanos, String what) throws VhostException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(65536);
            while (true) {
                int ready = Linux.poll(fd, Linux.POLLIN, remainingMs(deadlineNanos, what, out.size(), -1));
                if ((ready & (Linux.POLLIN | Linux.POLLHUP | Linux.POLLERR)) == 0) {
                    continue;
                }
                long n = Linux.read(fd, buf, buf.byteSize());
                if (n == 0) {
                    return out.toByteArray();
                }
                if (n < 0) {
                    continue; // non-blocking and raced empty
                }
                if (out.size() + n > maxBytes) {
                    throw new VhostProtocolException(what + ": more than " + maxBytes + " bytes (MAX_STATE_BYTES); not a device state");
                }
                out.write(buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), 0, (int) n);
            }
        }
    }

    private static int remainingMs(long deadlineNanos, String what, int done, int total) throws VhostTimeoutException {
        long left = deadlineNanos - System.nanoTime();
        if (left <= 0) {
            throw new VhostTimeoutException(what + ": timed out after " + done + (total >= 0 ? " of " + total : "")
                    + " bytes");
        }
        return (int) Math.max(1, Math.min(1000, TimeUnit.NANOSECONDS.toMillis(left)));
    }
}
