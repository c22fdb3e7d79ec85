package com.vhost.user.frontend;

import com.vhost.api.DeviceStateBackend;
import com.vhost.api.VhostException;
import com.vhost.api.VhostProtocolException;
import com.vhost.api.VhostRefusedException;
import com.vhost.api.VhostTimeoutException;
import com.vhost.api.user.DeviceStateDirection;
import com.vhost.api.user.DeviceStatePhase;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.spi.nativeio.Linux;
import com.vhost.user.connection.StatePipe;
import com.vhost.user.message.DeviceStatePayload;
import com.vhost.user.message.FrontendRequest;
import com.vhost.user.message.MessageHeader;
import com.vhost.user.message.U64Payload;
import java.util.concurrent.TimeUnit;

/**
 * The front-end's side of moving a vhost-user back-end's internal state through a pipe
 * (vhost-user spec, "Migrating back-end state"; QEMU {@code vhost_save_backend_state} /
 * {@code vhost_load_backend_state}): SET_DEVICE_STATE_FD with direction SAVE or LOAD, phase
 * STOPPED and one end of a pipe ({@code pipe2(O_CLOEXEC)}), the bytes read to end of file or
 * written and the pipe closed ({@link StatePipe}), then CHECK_DEVICE_STATE for the back-end's
 * verdict. Only while every ring of the back-end is stopped (GET_VRING_BASE answered). What
 * {@link VhostUserFrontend#saveState}, {@link VhostUserFrontend#loadState} and
 * {@link VhostUserFrontend#carryTo} run. The requests are sent and their replies read in separate
 * steps, so a carry between two back-ends has both in flight at once.
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

    /**
     * Moves {@code from}'s state into {@code to} with the two transfers overlapped, in two round
     * trips where SAVE then LOAD take four: SET_DEVICE_STATE_FD(SAVE) to {@code from} and
     * SET_DEVICE_STATE_FD(LOAD) to {@code to} are both sent before either reply is read; the
     * bytes are read from the one pipe to end of file and written into the other, which is then
     * closed (end of file for {@code to}); then CHECK_DEVICE_STATE goes to both before either
     * reply is read. Each back-end sees the spec's order (its pipe at end of file before its
     * CHECK_DEVICE_STATE). A LOAD that {@code to} accepted is always ended with its
     * CHECK_DEVICE_STATE, after an empty pipe when the SAVE failed, so {@code to} is never left
     * with a transfer open; an empty or cut state is refused by a back-end that checks what it
     * loads, and ours does.
     *
     * @param timeoutMs bound on the whole carry
     * @return the state's size in bytes
     * @throws VhostRefusedException when either back-end refused its transfer or reported an
     *     error at CHECK_DEVICE_STATE; when only {@code from} did, {@code to} had loaded and
     *     accepted the bytes and the message says so
     * @throws VhostTimeoutException when {@code from} did not close its pipe, or {@code to} did not
     *     read the bytes, in time
     * @throws VhostProtocolException when {@code from} sent more than {@value DeviceStateBackend#MAX_STATE_BYTES} bytes
     * @throws VhostException from either connection or pipe
     */
    static int carry(VhostUserFrontend from, VhostUserFrontend to, long timeoutMs) throws VhostException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        int[] save = Linux.pipe();
        int[] load;
        try {
            load = Linux.pipe();
        } catch (VhostException | RuntimeException e) {
            Linux.closeQuietly(save[0]);
            Linux.closeQuietly(save[1]);
            throw e;
        }
        int saveRead = save[0];
        int loadWrite = load[1];
        boolean loadOpen = false; // to accepted the LOAD and has not had its CHECK_DEVICE_STATE
        try {
            try {
                sendSetFd(from, DeviceStateDirection.SAVE, DeviceStatePhase.STOPPED, save[1]);
                sendSetFd(to, DeviceStateDirection.LOAD, DeviceStatePhase.STOPPED, load[0]);
            } finally {
                Linux.closeQuietly(save[1]); // the back-ends hold their copies: EOF comes when they close them
                Linux.closeQuietly(load[0]);
            }
            VhostException failed = null;
            int ownSave = -1;
            try {
                ownSave = receiveSetFd(from, DeviceStateDirection.SAVE);
            } catch (VhostException e) {
                failed = e;
            }
            try {
                int ownLoad = receiveSetFd(to, DeviceStateDirection.LOAD);
                loadOpen = true;
                if (ownLoad >= 0) {
                    Linux.closeQuietly(loadWrite);
                    loadWrite = ownLoad;
                }
            } catch (VhostException e) {
                failed = FrontendErrors.keep(failed, e);
            }
            if (ownSave >= 0) {
                Linux.closeQuietly(saveRead);
                saveRead = ownSave;
            }
            if (failed != null) {
                throw failed;
            }
            byte[] state = StatePipe.readToEof(saveRead, DeviceStateBackend.MAX_STATE_BYTES, deadline, "device state from " + from.describe());
            StatePipe.writeFully(loadWrite, state, deadline, "device state to " + to.describe());
            Linux.closeQuietly(loadWrite); // end of file for to
            loadWrite = -1;
            sendCheck(from);
            loadOpen = false;
            sendCheck(to);
            VhostException saveVerdict = null;
            try {
                receiveCheck(from);
            } catch (VhostException e) {
                saveVerdict = e;
            }
            try {
                receiveCheck(to);
            } catch (VhostException e) {
                if (saveVerdict != null) {
                    e.addSuppressed(saveVerdict);
                }
                throw e;
            }
            if (saveVerdict != null) {
                throw new VhostRefusedException(FrontendRequest.CHECK_DEVICE_STATE.name(), 1, "SAVE from " + from.describe()
                        + " failed (" + saveVerdict.getMessage() + ") after " + to.describe() + " had loaded and accepted the "
                        + state.length + " bytes read before");
            }
            return state.length;
        } finally {
            Linux.closeQuietly(saveRead);
            if (loadWrite >= 0) {
                Linux.closeQuietly(loadWrite);
            }
            if (loadOpen) {
                endLoad(to);
            }
        }
    }

    /** Ends a LOAD left open by a failed carry: the pipe is closed by then, so CHECK_DEVICE_STATE reports the empty state. */
    private static void endLoad(VhostUserFrontend to) {
        try {
            sendCheck(to);
            receiveCheck(to);
        } catch (VhostException e) {
            // expected: nothing (or a cut state) was loaded; the back-end kept its own state
        }
    }

    /** Sends SET_DEVICE_STATE_FD with {@code fd} (the back-end gets a copy); the reply is read by {@link #receiveSetFd}. */
    static void sendSetFd(VhostUserFrontend f, DeviceStateDirection direction, DeviceStatePhase phase, int fd) throws VhostException {
        f.call(FrontendRequest.SET_DEVICE_STATE_FD, -1, () -> {
            f.requireProtocol(VhostUserProtocolFeature.DEVICE_STATE, FrontendRequest.SET_DEVICE_STATE_FD);
            if (fd < 0) {
                throw new VhostProtocolException("SET_DEVICE_STATE_FD: needs the front-end's pipe fd, got " + fd);
            }
            int n = new DeviceStatePayload(direction.code(), phase.code()).encode(f.conn.sendPayload(), 0);
            f.send(FrontendRequest.SET_DEVICE_STATE_FD, n, new int[] {fd}, false);
            return null;
        });
    }

    /**
     * Reads SET_DEVICE_STATE_FD's reply.
     *
     * @return the back-end's own fd for the transfer, or -1 when it uses the front-end's (bit 8)
     * @throws VhostRefusedException when the reply carries an error code
     * @throws VhostProtocolException for reserved bits set or an fd count that does not match bit 8
     */
    static int receiveSetFd(VhostUserFrontend f, DeviceStateDirection direction) throws VhostException {
        return f.call(FrontendRequest.SET_DEVICE_STATE_FD, -1, () -> {
            MessageHeader h = f.receiveReply(FrontendRequest.SET_DEVICE_STATE_FD, true);
            long v = U64Payload.decode("SET_DEVICE_STATE_FD reply", f.conn.receivePayload(), 0, h.size()).value();
            long error = v & DeviceStatePayload.REPLY_ERROR_MASK;
            if ((v & ~(DeviceStatePayload.REPLY_ERROR_MASK | DeviceStatePayload.REPLY_NO_FD)) != 0) {
                throw new VhostProtocolException("SET_DEVICE_STATE_FD reply 0x" + Long.toHexString(v) + " has reserved bits set");
            }
            if (error != 0) {
                throw new VhostRefusedException(FrontendRequest.SET_DEVICE_STATE_FD.name(), error, "direction " + direction.name());
            }
            boolean noFd = (v & DeviceStatePayload.REPLY_NO_FD) != 0;
            if (f.rxFds.size() != (noFd ? 0 : 1)) {
                throw new VhostProtocolException("SET_DEVICE_STATE_FD reply carried " + f.rxFds.size() + " fds, expected " + (noFd ? 0 : 1));
            }
            int own = noFd ? -1 : f.rxFds.get(0).release();
            f.rxFds.clear();
            return own;
        });
    }

    /** Sends CHECK_DEVICE_STATE; the verdict is read by {@link #receiveCheck}. */
    static void sendCheck(VhostUserFrontend f) throws VhostException {
        f.call(FrontendRequest.CHECK_DEVICE_STATE, -1, () -> {
            f.requireProtocol(VhostUserProtocolFeature.DEVICE_STATE, FrontendRequest.CHECK_DEVICE_STATE);
            f.send(FrontendRequest.CHECK_DEVICE_STATE, 0, null, false);
            return null;
        });
    }

    /** @throws VhostRefusedException when CHECK_DEVICE_STATE reports the transfer failed */
    static void receiveCheck(VhostUserFrontend f) throws VhostException {
        f.call(FrontendRequest.CHECK_DEVICE_STATE, -1, () -> {
            MessageHeader h = f.receiveReply(FrontendRequest.CHECK_DEVICE_STATE, false);
            long v = U64Payload.decode("CHECK_DEVICE_STATE reply", f.conn.receivePayload(), 0, h.size()).value();
            if (v != 0) {
                throw new VhostRefusedException(FrontendRequest.CHECK_DEVICE_STATE.name(), v, "state transfer failed");
            }
            return null;
        });
    }
}
