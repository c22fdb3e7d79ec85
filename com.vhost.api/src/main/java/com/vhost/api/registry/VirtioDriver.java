package com.vhost.api.registry;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.virtio.VirtioDevice;
import java.util.Map;
import org.osgi.annotation.versioning.ProviderType;

/** A running device made by a {@link VirtioDriverFactory}. */
@ProviderType
public interface VirtioDriver extends AutoCloseable {
    /** @return the device (life cycle, config) */
    VirtioDevice device();

    /**
     * @param type the application API wanted, e.g. {@code BlockDevice.class}
     * @return the application's handle, or null when this driver does not provide {@code type}
     */
    <T> T api(Class<T> type);

    /** @return a one-line summary for shells ("blk 64 MiB, 2 queues, features 0x...") */
    String summary();

    /**
     * Moves the running device to {@code newBackend} while the application's handle (from
     * {@link #api}) stays valid (hot-swap): new requests are held, the old backend's rings are
     * stopped (GET_VRING_BASE per queue), what it completed is reaped, the old backend is closed,
     * {@code newBackend} is negotiated (it must offer every feature acked so far) and started at
     * the stopped ring bases, and the requests still outstanding are resubmitted in submission
     * order. Each request in flight at the swap completes exactly once for the application.
     * Also resumes a device {@link #detach() detached} from its backend.
     *
     * <p><b>When the swap cannot finish, nothing is lost</b> (one rule for every driver): a
     * {@code newBackend} refused before the old backend stops (a feature acked so far missing,
     * another device type or geometry) leaves the device on its old backend, or detached when it
     * had none; a {@code newBackend} that fails to start after the old backend's rings stopped
     * leaves the device {@link #detach() detached}. Outstanding and new requests are then held
     * for another {@code rebind}, and fail with {@link com.vhost.api.VhostDisconnectedException}
     * only once the driver's bounded wait ({@code swap.wait.ms}) since it lost its backend is
     * over; a refused or failed rebind never fails them by itself.
     *
     * <p>The default throws {@link VhostFeatureException} naming the driver (and closes
     * {@code newBackend}): the driver cannot be rebound.
     *
     * @param newBackend an open backend; the driver owns it from now on (closed on failure)
     * @throws VhostFeatureException when {@code newBackend} lacks an acked feature (the device
     *     stays on its old backend when that one still works, else stays detached) or the driver
     *     cannot rebind
     * @throws VhostException from the new backend, naming the request that failed; the device is
     *     then detached and its requests wait as said above
     * @since 1.1
     */
    default void rebind(VhostBackend newBackend) throws VhostException {
        newBackend.close();
        throw new VhostFeatureException("rebind: " + summary() + " cannot move to another backend");
    }

    /**
     * Stops the device's rings and closes its backend, keeping the application's handle: requests
     * outstanding and new ones are held until {@link #rebind} gives it a backend, or fail with
     * {@link com.vhost.api.VhostDisconnectedException} once the driver's bounded wait (its
     * {@code swap.wait.ms} configuration) is over. The default throws
     * {@link VhostFeatureException} naming the driver.
     *
     * @since 1.1
     */
    default void detach() throws VhostException {
        throw new VhostFeatureException("detach: " + summary() + " cannot release its backend while running");
    }

    /**
     * Per-device counters for shells and JMX, e.g. {@code requests}, {@code bytes},
     * {@code swaps}, {@code last.pause.us} (microseconds from the last completion on the old
     * backend to the first on the new one). The default has none.
     *
     * @since 1.1
     */
    default Map<String, Long> counters() {
        return Map.of();
    }

    /**
     * Takes a snapshot of the running device without stopping the application: new requests are
     * held, the rings are stopped (GET_VRING_BASE per queue), what the backend completed is reaped,
     * the state is recorded, and the rings are restarted on the same backend at the same indices
     * (the second seed's sleep, snapshot, wake, done by the driver that owns the rings). The
     * layout is the driver's (documented on its implementation): it covers the acked features,
     * config geometry, per queue the ring addresses, next avail and used indices, and the
     * requests in flight (type, sector/length or frame count); requests in flight keep running
     * and complete exactly once. The default throws {@link VhostFeatureException} naming the
     * driver.
     *
     * @return the snapshot bytes; pass them to {@link #restore} of this driver or of a driver of
     *     the same device type and geometry
     * @throws VhostException when the backend refused to stop or restart a ring; the device is
     *     then failed or detached as after a backend loss
     * @since 1.2
     */
    default byte[] snapshot() throws VhostException {
        throw new VhostFeatureException("snapshot: " + summary() + " cannot take a snapshot while running");
    }

    /**
     * Returns the running device to a {@link #snapshot}: checks the snapshot is of this device
     * type, its acked features are acked here and its geometry (capacity, queues, queue size)
     * is this device's, else refuses and changes nothing; then quiesces the device, resets its
     * rings at the snapshot's addresses and indices, restarts the backend there and resubmits the
     * requests outstanding now (not those recorded in the snapshot: the application saw them
     * complete). The application's handle stays valid.
     *
     * @param snapshot bytes from {@link #snapshot()}
     * @return a one-line summary for shells (queues, indices, requests carried over)
     * @throws com.vhost.api.VirtioDeviceException naming the mismatch (magic, device type,
     *     feature bits, geometry) or the truncation; the device keeps running unchanged
     * @throws VhostException from the backend while restarting the rings
     * @since 1.2
     */
    default String restore(byte[] snapshot) throws VhostException {
        throw new VhostFeatureException("restore: " + summary() + " cannot restore a snapshot while running");
    }

    /** Stops the device and closes its backend. */
    @Override
    void close();
}
