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
     * <p>The default throws {@link VhostFeatureException} naming the driver (and closes
     * {@code newBackend}): the driver cannot be rebound.
     *
     * @param newBackend an open backend; the driver owns it from now on (closed on failure)
     * @throws VhostFeatureException when {@code newBackend} lacks an acked feature (the device
     *     stays on its old backend when that one still works) or the driver cannot rebind
     * @throws VhostException from the new backend, naming the request that failed; outstanding
     *     requests then fail with it when the old backend is already gone
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

    /** Stops the device and closes its backend. */
    @Override
    void close();
}
