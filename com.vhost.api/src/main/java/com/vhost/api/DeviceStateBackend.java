package com.vhost.api;

import org.osgi.annotation.versioning.ProviderType;

/**
 * Capability: the back-end's internal device state can be saved and loaded while every ring is
 * stopped (vhost-user spec "Migrating back-end state": SET_DEVICE_STATE_FD with direction SAVE or
 * LOAD and phase STOPPED, the state moved through a pipe, then CHECK_DEVICE_STATE; QEMU
 * {@code vhost_save_backend_state} / {@code vhost_load_backend_state}). How the bytes move is
 * the transport's business; a caller sees only opaque bytes.
 */
@ProviderType
public interface DeviceStateBackend extends VhostBackend {
    /** Largest device state moved, in bytes; more is refused as not a device state. */
    int MAX_STATE_BYTES = 1 << 20;

    /**
     * @return whether the transport's feature for state transfer was negotiated (vhost-user:
     *     protocol feature DEVICE_STATE, bit 19)
     */
    boolean canTransferState();

    /**
     * Saves the back-end's state. Every ring must be stopped (GET_VRING_BASE answered).
     *
     * @param timeoutMs bound on the whole transfer, milliseconds
     * @return the state, at most {@link #MAX_STATE_BYTES} bytes
     * @throws VhostFeatureException when the feature was not negotiated
     * @throws VhostRefusedException when the back-end refused or reported a failed transfer
     * @throws VhostTimeoutException when the back-end did not finish in time
     * @throws VhostProtocolException when it sent more than {@link #MAX_STATE_BYTES} bytes
     * @throws VhostException from the connection or the pipe
     */
    byte[] saveState(long timeoutMs) throws VhostException;

    /**
     * Loads {@code state} (what a {@link #saveState} returned) into the back-end, whose rings are
     * not started.
     *
     * @param timeoutMs bound on the whole transfer, milliseconds
     * @throws VhostFeatureException when the feature was not negotiated
     * @throws VhostRefusedException when the back-end refused the transfer or could not use the state
     * @throws VhostTimeoutException when the back-end did not read the bytes in time
     * @throws VhostException from the connection or the pipe (EPIPE: the back-end closed early)
     */
    void loadState(byte[] state, long timeoutMs) throws VhostException;

    /**
     * Moves this back-end's state (every ring stopped) into {@code to} (no ring started). A
     * transport may overlap the two transfers (vhost-user: both SET_DEVICE_STATE_FD requests sent
     * before either reply is read, then both CHECK_DEVICE_STATE requests), so {@code to} may have
     * loaded the bytes before this back-end's verdict on its SAVE is known; the exception then
     * says so. Default: {@link #saveState}, then {@code to.}{@link #loadState}.
     *
     * @param to a back-end that {@link #canTransferState() can transfer state}
     * @param timeoutMs bound on each transfer, milliseconds
     * @return the state's size in bytes
     * @throws VhostException as {@link #saveState} and {@link #loadState} throw them
     * @since 2.1
     */
    default int carryTo(DeviceStateBackend to, long timeoutMs) throws VhostException {
        byte[] state = saveState(timeoutMs);
        to.loadState(state, timeoutMs);
        return state.length;
    }

    /**
     * Moves the state of {@code from} (rings stopped) into {@code to} (rings not started), when
     * both can: a hot-swap between back-ends of one kind ({@link #carryTo}).
     *
     * @return the state's size in bytes, or -1 when nothing was moved because one of them is not
     *     a {@link DeviceStateBackend} that {@link #canTransferState() can transfer}, or
     *     {@code from} is disconnected
     * @throws VhostException from {@link #carryTo}
     */
    static int carry(VhostBackend from, VhostBackend to, long timeoutMs) throws VhostException {
        if (!(from instanceof DeviceStateBackend src) || !(to instanceof DeviceStateBackend dst)
                || !src.canTransferState() || !dst.canTransferState() || !from.isConnected()) {
            return -1;
        }
        return src.carryTo(dst, timeoutMs);
    }
}
