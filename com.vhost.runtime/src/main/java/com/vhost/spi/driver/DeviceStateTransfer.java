package com.vhost.spi.driver;

import com.vhost.api.DeviceStateBackend;
import com.vhost.api.VhostBackend;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VhostProtocolException;
import com.vhost.api.VhostTimeoutException;
import com.vhost.spi.vhost.GenericVhostDevice;

/**
 * The drivers' entry to moving a back-end's internal state (vhost-user spec, "Migrating back-end
 * state"; QEMU {@code vhost_save_backend_state} / {@code vhost_load_backend_state}), through the
 * API capability {@link DeviceStateBackend}: which transport has it, and how the bytes move (for
 * vhost-user a pipe handed over with SET_DEVICE_STATE_FD, then CHECK_DEVICE_STATE), is the
 * backend bundle's business. Only while every ring of the back-end is stopped.
 */
public final class DeviceStateTransfer {
    /** Largest state read from a back-end, bytes; more is refused as not a device state. */
    public static final int MAX_STATE_BYTES = DeviceStateBackend.MAX_STATE_BYTES;

    private DeviceStateTransfer() {}

    /**
     * @return whether {@code vhost}'s backend can move its state now (a {@link DeviceStateBackend}
     *     that negotiated the feature for it, vhost-user DEVICE_STATE)
     */
    public static boolean supported(GenericVhostDevice vhost) {
        return vhost.backend() instanceof DeviceStateBackend s && s.canTransferState();
    }

    /**
     * Moves a back-end's internal state to another (a hot-swap between back-ends of one kind):
     * SAVE from {@code from}, whose rings are stopped, LOAD into {@code to}, whose rings are not
     * started yet ({@link DeviceStateBackend#carry}).
     *
     * @param timeoutMs bound on each of the two transfers
     * @return the state's size in bytes, or -1 when nothing was moved because one of them cannot
     *     transfer state or {@code from} is disconnected
     * @throws VhostException from either transfer (see {@link #save}, {@link #load})
     */
    public static int carry(GenericVhostDevice from, GenericVhostDevice to, long timeoutMs) throws VhostException {
        return DeviceStateBackend.carry(from.backend(), to.backend(), timeoutMs);
    }

    /**
     * Saves the back-end's state ({@link DeviceStateBackend#saveState}).
     *
     * @param backend a connected back-end that can transfer state, every ring stopped
     * @param timeoutMs bound on the whole transfer
     * @return the state bytes (at most {@value #MAX_STATE_BYTES})
     * @throws VhostFeatureException when {@code backend} has no device-state transfer
     * @throws com.vhost.api.VhostRefusedException when the back-end refused the transfer or
     *     reported an error
     * @throws VhostTimeoutException when the back-end did not finish in time
     * @throws VhostProtocolException when it sent more than {@value #MAX_STATE_BYTES} bytes
     * @throws VhostException from the back-end connection or the pipe
     */
    public static byte[] save(VhostBackend backend, long timeoutMs) throws VhostException {
        return require(backend, "SAVE").saveState(timeoutMs);
    }

    /**
     * Loads {@code state} into the back-end ({@link DeviceStateBackend#loadState}).
     *
     * @param backend a connected back-end that can transfer state, every ring stopped
     * @param state the bytes a {@link #save} returned
     * @param timeoutMs bound on the whole transfer
     * @throws VhostFeatureException when {@code backend} has no device-state transfer
     * @throws com.vhost.api.VhostRefusedException when the back-end refused the transfer or could
     *     not use the state
     * @throws VhostTimeoutException when the back-end did not read the bytes in time
     * @throws VhostException from the back-end connection or the pipe
     */
    public static void load(VhostBackend backend, byte[] state, long timeoutMs) throws VhostException {
        require(backend, "LOAD").loadState(state, timeoutMs);
    }

    private static DeviceStateBackend require(VhostBackend backend, String direction) throws VhostFeatureException {
        if (backend instanceof DeviceStateBackend s) {
            return s;
        }
        throw new VhostFeatureException("device state " + direction + ": " + backend.describe() + " has no device-state transfer");
    }
}
