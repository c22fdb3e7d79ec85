package com.vhost.api.backend;

import com.vhost.api.virtio.VirtioDevice;
import org.osgi.annotation.versioning.ConsumerType;

/**
 * A device model: the device side of a VirtIO device (its config space, features and queue
 * processing), made by a {@link DeviceModelFactory} and served to front-ends by a
 * {@link BackendServer}. The model owns what it opened (an image file, a TAP interface) and
 * releases it on {@link #close()}.
 */
@ConsumerType
public interface DeviceModel extends AutoCloseable {
    /** @return the model as the VirtIO device a back-end server drives (crosvm's {@code VirtioDevice}) */
    VirtioDevice device();

    /** @return one line for humans, e.g. {@code "virtio-blk /srv/disk.raw, 64 MiB, 2 queue(s)"} */
    String describe();

    /**
     * @return the model's counters, one line per queue or queue pair (e.g.
     *     {@code "pair 0: tx 10 packets ..."}), each ending in a newline; empty when it keeps none
     */
    default String report() {
        return "";
    }

    /**
     * @return the model's counters by name, e.g. {@code pair.0.tx.packets}, {@code pair.0.rx.bytes}
     *     for a net model (packets and bytes as the device counted them); empty when it keeps none
     */
    default java.util.Map<String, Long> counters() {
        return java.util.Map.of();
    }

    /**
     * @return the configuration the model was made from ({@link DeviceModelFactory#create}), so
     *     that a new revision of its bundle can make its successor (a live upgrade); empty when
     *     the model was not made by a factory
     */
    default java.util.Map<String, Object> configuration() {
        return java.util.Map.of();
    }

    /** Stops the model's workers and releases what it opened. Idempotent. */
    @Override
    void close();
}
