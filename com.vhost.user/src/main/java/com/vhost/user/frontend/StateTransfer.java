package com.vhost.user.frontend;

import com.vhost.api.DeviceStateBackend;
import com.vhost.api.VhostException;
import com.vhost.api.VhostProtocolException;
import com.vhost.api.VhostTimeoutException;
import com.vhost.api.user.DeviceStateDirection;
import com.vhost.api.user.DeviceStatePhase;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.spi.nativeio.Linux;
import com.vhost.user.connection.StatePipe;
import java.util.concurrent.TimeUnit;

/**
 * The front-end's side of moving a vhost-user back-end's internal state through a pipe
 * (vhost-user spec, "Migrating back-end state"; QEMU {@code vhost_save_backend_state} /
 * {@code vhost_load_backend_state}): SET_DEVICE_STATE_FD with direction SAVE or LOAD, phase
 * STOPPED and one end of a pipe ({@code pipe2(O_CLOEXEC)}), the bytes read to end of file or
 * written and the pipe closed ({@link StatePipe}), then CHECK_DEVICE_STATE for the back-end's
 * verdict. Only while every ring of the back-end is stopped (GET_VRING_BASE answered). What
 * {@link VhostUserFrontend#saveState} and {@link VhostUserFrontend#loadState} run.
 */
final class StateTransfer {
    private StateTransfer() {}

    /**
     * Saves the back-end's state: SET_DEVICE_STATE_FD(SAVE, STOPPED) with a pipe's write end,
     * reads the read end (or the back-end's own fd, when it returned one) to end of file, then
     * CHECK_DEVICE_STATE.
     *
     * @param backend a connected back-end that negotiated DEVICE_STATE, every ring stopped
     * @param timeoutMs bound on the whole transfer
     * @return the state bytes (at most {@value DeviceStateBackend#MAX_STATE_BYTES})
     * @throws com.vhost.api.VhostRefusedException when the back-end refused the transfer or
     *     CHECK_DEVICE_STATE reported an error
     * @throws VhostTimeoutException when the back-end did not close the pipe in time
     * @throws VhostProtocolException when it sent more than {@value DeviceStateBackend#MAX_STATE_BYTES} bytes
     * @throws VhostException from the back-end connection or the pipe
     */
    static byte[] save(VhostUserBackend backend, long timeoutMs) throws VhostException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        int[] p = Linux.pipe();
        int readFd = p[0];
        int writeFd = p[1];
        try {
            int own = backend.setDeviceStateFd(DeviceStateDirection.SAVE, DeviceStatePhase.STOPPED, writeFd);
            Linux.closeQuietly(writeFd); // the back-end has its copy: EOF comes when it closes that
            writeFd = -1;
            if (own >= 0) {
                Linux.closeQuietly(readFd);
                readFd = own;
            }
            byte[] state = StatePipe.readToEof(readFd, DeviceStateBackend.MAX_STATE_BYTES, deadline, "device state from " + backend.describe());
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
    static void load(VhostUserBackend backend, byte[] state, long timeoutMs) throws VhostException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        int[] p = Linux.pipe();
        int readFd = p[0];
        int writeFd = p[1];
        try {
            int own = backend.setDeviceStateFd(DeviceStateDirection.LOAD, DeviceStatePhase.STOPPED, readFd);
            Linux.closeQuietly(readFd);
            readFd = -1;
            if (own >= 0) {
                Linux.closeQuietly(writeFd);
                writeFd = own;
            }
            StatePipe.writeFully(writeFd, state, deadline, "device state to " + backend.describe());
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
}
