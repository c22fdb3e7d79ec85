package com.vhost.api;

/**
 * A virtqueue broke the VIRTIO rules (OASIS VIRTIO 1.2, section 2.7): a descriptor index at or
 * beyond the queue size, a chain longer than the queue (a loop), a buffer outside guest memory,
 * a readable descriptor after a writable one, an avail index that moved more than the queue size.
 * The device that sees it sets {@code DEVICE_NEEDS_RESET}.
 */
public final class VirtqueueException extends VhostException {
    private static final long serialVersionUID = 1L;
    private final int queueIndex;

    /**
     * @param queueIndex the queue the fault was found on, or -1 when unknown
     * @param message what was wrong, with the offending values
     */
    public VirtqueueException(int queueIndex, String message) {
        super((queueIndex >= 0 ? "queue " + queueIndex + ": " : "") + message, null);
        this.queueIndex = queueIndex;
    }

    /** @return the queue index, or -1 */
    public int queueIndex() {
        return queueIndex;
    }
}
