package com.vhost.devices.blk.driver;

/**
 * Receives completions from {@link BlkRequestQueue#poll} / {@link BlkRequestQueue#await}, on the
 * polling thread, without allocation.
 */
@FunctionalInterface
public interface BlkCompletion {
    /**
     * @param tag the tag given to {@link BlkRequestQueue#submit}
     * @param status the virtio-blk status byte: {@code VIRTIO_BLK_S_OK} 0, {@code IOERR} 1,
     *     {@code UNSUPP} 2 (VIRTIO 1.2, 5.2.6); 255 when the device did not write it
     */
    void complete(long tag, int status);
}
