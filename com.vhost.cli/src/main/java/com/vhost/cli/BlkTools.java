package com.vhost.cli;

import com.vhost.api.VhostBackend;
import com.vhost.api.blk.BlockDevice;
import java.nio.file.Path;

/**
 * What the CLI needs from the virtio-blk and vhost-user implementation bundles, behind one seam so
 * the commands only see API types ({@link BlockDevice}, {@link VhostBackend},
 * {@link com.vhost.api.virtio.VirtioDevice}). {@link BlkToolsLoader} supplies the implementation
 * over {@code com.vhost.devices.blk} and {@code com.vhost.user}, or one that explains which bundle
 * is missing.
 */
public interface BlkTools {
    /** A virtio-blk model served as a vhost-user back-end on a UNIX socket. */
    interface Served extends AutoCloseable {
        /** @return the listening socket */
        Path socket();

        /** @return capacity in bytes, from the model's config space ({@code capacity} × 512) */
        long capacityBytes();

        /** @return one line for humans: image or memory, size, queues, read-only */
        String describe();

        /** Stops the server (unlinking the socket) and closes the model. Idempotent. */
        @Override
        void close();
    }

    /**
     * Serves a disk image file.
     *
     * @param socket where to listen (a stale socket file is replaced)
     * @param image a raw image whose size is a multiple of 512 bytes
     * @param readOnly offer VIRTIO_BLK_F_RO and refuse writes
     * @param queues request queues offered (1..)
     * @param queueSize maximum descriptors per queue (power of two)
     * @throws Exception when the image cannot be opened or the socket cannot be bound
     */
    Served serveImage(Path socket, Path image, boolean readOnly, int queues, int queueSize) throws Exception;

    /** Serves a zero-filled disk of {@code capacityBytes} (multiple of 512) held in memory. */
    Served serveMemory(Path socket, long capacityBytes, int queues, int queueSize) throws Exception;

    /**
     * Starts a virtio-blk driver on an open backend.
     *
     * @param backend open backend; the returned device owns it and closes it
     * @param queues request queues to use
     * @param queueSize descriptors per queue
     * @return the running device
     * @throws Exception when negotiation or setup fails
     */
    BlockDevice openDevice(VhostBackend backend, int queues, int queueSize) throws Exception;
}
