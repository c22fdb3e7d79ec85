package com.vhost.api.blk;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * Receives completions of the low-level path ({@link BlockQueue#poll}, {@link BlockQueue#await})
 * on the polling thread. Implementations must not allocate or block: they run once per request on
 * the data path.
 */
@ConsumerType
@FunctionalInterface
public interface BlockCompletion {
    /**
     * @param tag the tag given to {@link BlockQueue#submit}
     * @param status the virtio-blk status byte: {@code VIRTIO_BLK_S_OK} 0, {@code IOERR} 1,
     *     {@code UNSUPP} 2 (VIRTIO 1.2, section 5.2.6); 255 when the device did not write it
     */
    void complete(long tag, int status);
}
