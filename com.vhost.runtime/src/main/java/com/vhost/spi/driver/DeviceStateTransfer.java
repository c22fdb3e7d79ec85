package com.vhost.spi.driver;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostException;
import com.vhost.api.VhostNativeException;
import com.vhost.api.VhostProtocolException;
import com.vhost.api.VhostTimeoutException;
import com.vhost.api.VhostUserProtocolFeature;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.vhost.GenericVhostDevice;
import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;

/**
 * Moves a vhost-user back-end's internal state through a pipe (vhost-user spec, "Migrating
 * back-end state"; QEMU {@code vhost_save_backend_state} / {@code vhost_load_backend_state}):
 * SET_DEVICE_STATE_FD with direction SAVE or LOAD, phase STOPPED and one end of a pipe
 * ({@code pipe2(O_CLOEXEC)}), the bytes read to end of file or written and the pipe closed, then
 * CHECK_DEVICE_STATE for the back-end's verdict. Only while every ring of the back-end is
 * stopped (GET_VRING_BASE answered). The fd helpers are shared with the back-end side.
 */
public final class DeviceStateTransfer {
    /** SET_DEVICE_STATE_FD direction: the back-end writes its state. */
    public static final int SAVE = 0;
    /** SET_DEVICE_STATE_FD direction: the back-end reads its state. */
    public static final int LOAD = 1;
    /** SET_DEVICE_STATE_FD phase: the device is stopped (the only phase defined). */
    public static final int PHASE_STOPPED = 0;
    /** Largest state read from a pipe, bytes; more is refused as not a device state. */
    public static final int MAX_STATE_BYTES = 1 << 20;
    /** Bytes written per {@code write} after POLLOUT: at most PIPE_BUF, so it cannot block. */
    private static final int CHUNK = 4096;

    private DeviceStateTransfer() {}

    /** @return whether {@code protocolFeatures} (as negotiated) include DEVICE_STATE (bit 19) */
    public static boolean supported(long protocolFeatures) {
        return VhostUserProtocolFeature.DEVICE_STATE.in(protocolFeatures);
    }

    /**
     * Moves a back-end's internal state to another (a hot-swap between back-ends of one kind):
     * SAVE from {@code from}, whose rings are stopped, LOAD into {@code to}, whose rings are not
     * started yet (vhost-user "Migrating back-end state").
     *
     * @param timeoutMs bound on each of the two transfers
     * @return the state's size in bytes, or -1 when nothing was moved because one of them did
     *     not negotiate DEVICE_STATE or {@code from} is disconnected
     * @throws VhostException from either transfer (see {@link #save}, {@link #load})
     */
    public static int carry(GenericVhostDevice from, GenericVhostDevice to, long timeoutMs) throws VhostException {
        if (!supported(from.protocolFeatures()) || !supported(to.protocolFeatures()) || !from.backend().isConnected()) {
            return -1;
        }
        byte[] state = save(from.backend(), timeoutMs);
        load(to.backend(), state, timeoutMs);
        return state.length;
    }

    /**
     * Saves the back-end's state: SET_DEVICE_STATE_FD(SAVE, STOPPED) with a pipe's write end,
     * reads the read end (or the back-end's own fd, when it returned one) to end of file, then
     * CHECK_DEVICE_STATE.
     *
     * @param backend a connected back-end that negotiated DEVICE_STATE, every ring stopped
     * @param timeoutMs bound on the whole transfer
     * @return the state bytes (at most {@value #MAX_STATE_BYTES})
     * @throws com.vhost.api.VhostRefusedException when the back-end refused the transfer or
     *     CHECK_DEVICE_STATE reported an error
     * @throws VhostTimeoutException when the back-end did not close the pipe in time
     * @throws VhostProtocolException when it sent more than {@value #MAX_STATE_BYTES} bytes
     * @throws VhostException from the back-end connection or the pipe
     */
    public static byte[] save(VhostBackend backend, long timeoutMs) throws VhostException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        int[] p = Linux.pipe();
        int readFd = p[0];
        int writeFd = p[1];
        try {
            int own = backend.setDeviceStateFd(SAVE, PHASE_STOPPED, writeFd);
            Linux.closeQuietly(writeFd); // the back-end has its copy: EOF comes when it closes that
            writeFd = -1;
            if (own >= 0) {
                Linux.closeQuietly(readFd);
                readFd = own;
            }
            byte[] state = readToEof(readFd, MAX_STATE_BYTES, deadline, "device state from " + backend.describe());
            Linux.closeQuietly(readFd);
            readFd = -1;
            backend.checkDeviceState();
            return state;
        } finally {
            if (writeFd >= 0) {
                Linux.closeQuietly(writeFd);
            }
            if (readFd >= 0) {
                Linux.closeQuietly(readFd);
            }
        }
    }

    /**
     * Loads {@code state} into the back-end: SET_DEVICE_STATE_FD(LOAD, STOPPED) with a pipe's read
     * end, writes the bytes into the write end (or the back-end's own fd), closes it, then
     * CHECK_DEVICE_STATE.
     *
     * @param backend a connected back-end that negotiated DEVICE_STATE, every ring stopped
     * @param state the bytes a {@link #save} returned
     * @param timeoutMs bound on the whole transfer
     * @throws com.vhost.api.VhostRefusedException when the back-end refused the transfer or
     *     CHECK_DEVICE_STATE reported an error (e.g. it could not use the state)
     * @throws VhostTimeoutException when the back-end did not read the bytes in time
     * @throws VhostException from the back-end connection or the pipe (EPIPE: the back-end
     *     closed its end early)
     */
    public static void load(VhostBackend backend, byte[] state, long timeoutMs) throws VhostException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        int[] p = Linux.pipe();
        int readFd = p[0];
        int writeFd = p[1];
        try {
            int own = backend.setDeviceStateFd(LOAD, PHASE_STOPPED, readFd);
            Linux.closeQuietly(readFd);
            readFd = -1;
            if (own >= 0) {
                Linux.closeQuietly(writeFd);
                writeFd = own;
            }
            writeFully(writeFd, state, deadline, "device state to " + backend.describe());
            Linux.closeQuietly(writeFd); // end of file for the back-end
            writeFd = -1;
            backend.checkDeviceState();
        } finally {
            if (writeFd >= 0) {
                Linux.closeQuietly(writeFd);
            }
            if (readFd >= 0) {
                Linux.closeQuietly(readFd);
            }
        }
    }

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
                    throw new VhostProtocolException(what + ": more than " + maxBytes + " bytes; not a device state");
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
