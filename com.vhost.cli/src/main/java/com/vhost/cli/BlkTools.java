package com.vhost.cli;

import com.vhost.api.VhostBackend;
import com.vhost.api.backend.SocketOptions;
import com.vhost.api.blk.BlockDevice;
import com.vhost.spi.workload.VerifiedWorkload;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/**
 * What the CLI needs from the virtio-blk and vhost-user implementation bundles, behind one seam so
 * the commands only see API types ({@link BlockDevice}, {@link VhostBackend},
 * {@link com.vhost.api.virtio.VirtioDevice}). {@link ServiceBlkTools} implements it over the
 * services of {@code com.vhost.devices.blk} and {@code com.vhost.user}, and names the bundle that
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
     * @param socket where to listen (a stale socket file is replaced; a live server's socket or
     *     another kind of file there is refused)
     * @param access the socket file's mode and group ({@link SocketOptions#PRIVATE}: 0600)
     * @param image a raw image (regular file or block device) whose size is a positive multiple of
     *     512 bytes
     * @param readOnly offer VIRTIO_BLK_F_RO and refuse writes
     * @param queues request queues offered (1..)
     * @param queueSize maximum descriptors per queue (power of two)
     * @throws IllegalArgumentException naming the image when it is not a regular file or block
     *     device, or its size is 0 or not a multiple of 512
     * @throws Exception when the image cannot be opened or the socket cannot be bound
     */
    default Served serveImage(Path socket, SocketOptions access, Path image, boolean readOnly, int queues, int queueSize)
            throws Exception {
        return serveImage(socket, access, image, readOnly, queues, queueSize, "threads", false);
    }

    /**
     * As {@link #serveImage(Path, SocketOptions, Path, boolean, int, int)}, with the model's I/O
     * engine.
     *
     * @param aio {@code threads}, {@code io_uring} or {@code auto} (io_uring where this host allows
     *     it, else threads, logged with the reason)
     * @param direct open the image O_DIRECT (with io_uring only)
     * @throws Exception also when {@code io_uring} is asked for and cannot be set up (naming why),
     *     or {@code direct} without io_uring or on a file system without O_DIRECT
     */
    default Served serveImage(Path socket, SocketOptions access, Path image, boolean readOnly, int queues, int queueSize,
            String aio, boolean direct) throws Exception {
        return serveImage(socket, access, image, readOnly, queues, queueSize, aio, direct, false);
    }

    /**
     * As {@link #serveImage(Path, SocketOptions, Path, boolean, int, int, String, boolean)}, the
     * model completing requests in random order when {@code randomOrder} (blk model key
     * {@code complete.order}; {@code aio} threads only), for tests of out-of-order completion and
     * inflight I/O tracking.
     *
     * @throws Exception as the other {@code serveImage}; an {@link IllegalArgumentException} for
     *     {@code randomOrder} with io_uring
     */
    Served serveImage(Path socket, SocketOptions access, Path image, boolean readOnly, int queues, int queueSize,
            String aio, boolean direct, boolean randomOrder) throws Exception;

    /** Serves a zero-filled disk of {@code capacityBytes} (multiple of 512) held in memory. */
    Served serveMemory(Path socket, SocketOptions access, long capacityBytes, int queues, int queueSize) throws Exception;

    /**
     * Starts a virtio-blk driver on an open backend.
     *
     * @param backend open backend; the returned device owns it and closes it
     * @param queues request queues to use
     * @param queueSize descriptors per queue
     * @param poll find completions by polling the used ring instead of waiting on call eventfds
     * @return the running device
     * @throws Exception when negotiation or setup fails
     */
    BlockDevice openDevice(VhostBackend backend, int queues, int queueSize, boolean poll) throws Exception;

    /**
     * As {@link #openDevice(VhostBackend, int, int, boolean)}; {@code packed} asks for packed
     * virtqueues (VIRTIO_F_RING_PACKED), split ones being used when the back-end does not offer them.
     *
     * @throws UnsupportedOperationException by default when {@code packed} (no packed driver)
     */
    default BlockDevice openDevice(VhostBackend backend, int queues, int queueSize, boolean poll, boolean packed) throws Exception {
        if (packed) {
            backend.close();
            throw new UnsupportedOperationException("this virtio-blk driver has no packed virtqueues");
        }
        return openDevice(backend, queues, queueSize, poll);
    }

    /** Receives low-level completions on the polling thread; must not allocate. */
    @FunctionalInterface
    interface CompletionSink {
        /**
         * @param tag the tag given to {@link RawQueue#submit}
         * @param status virtio-blk status byte: 0 OK, 1 IOERR, 2 UNSUPP (VIRTIO 1.2, 5.2.6)
         */
        void complete(long tag, int status);
    }

    /**
     * One request queue driven directly by one thread, without allocation per request (the
     * driver's low-level path). Calls come from a single thread.
     */
    interface RawQueue {
        /**
         * Queues a request without notifying the device.
         *
         * @param type {@code VIRTIO_BLK_T_IN} 0 (read into {@code buffer}) or {@code T_OUT} 1 (write it)
         * @param offset byte offset, a multiple of the block size
         * @param buffer from {@link BlockDevice#allocateBuffer}
         * @param tag returned with the completion
         * @return false when the queue is full
         */
        boolean submit(int type, long offset, MemorySegment buffer, long tag) throws Exception;

        /** Notifies the device of the requests queued since the last kick (when it wants a kick). */
        void kick() throws Exception;

        /** Waits at most {@code timeoutNanos} for completions; @return how many were delivered (0 on timeout) */
        int await(long timeoutNanos) throws Exception;
    }

    /**
     * Hands queue {@code index} of {@code device} over to the low-level path.
     *
     * @return the queue, or null when {@code device} has no low-level path (then use its
     *     {@link BlockDevice} methods)
     * @throws Exception when the queue cannot be handed over (requests outstanding, already taken)
     */
    RawQueue rawQueue(BlockDevice device, int index, CompletionSink sink) throws Exception;

    /** Hot-swap view of a device from {@link #openDevice}. */
    interface Swappable extends MeasuredSwap {
        /** @return requests the device completed with success (for counting duplicates) */
        long completedRequests();
    }

    /**
     * @return the hot-swap view of {@code device}, or null when it cannot move between backends
     */
    default Swappable swappable(BlockDevice device) {
        return null;
    }

    /**
     * A device that waits for a new back-end when it loses its own ({@code detach.on.loss=true}):
     * see {@link #openReconnectable}.
     */
    interface Reconnectable extends ReconnectView {
        /** @return requests the device completed with success (for counting duplicates) */
        long completedRequests();
    }

    /**
     * Starts a virtio-blk driver that, when its back-end goes away, detaches and holds its requests
     * for up to {@code swapWaitMs} for a {@link Reconnectable#rebind} instead of failing them.
     *
     * @param backend open backend; the returned device owns it and closes it
     * @param swapWaitMs how long held requests wait for a new back-end, in milliseconds (then they
     *     fail with {@link com.vhost.api.VhostDisconnectedException})
     * @return the running device; {@link #reconnectable} gives its reconnect view
     * @throws UnsupportedOperationException by default (no driver that can detach)
     * @throws Exception when negotiation or setup fails
     */
    default BlockDevice openReconnectable(VhostBackend backend, int queues, int queueSize, boolean poll, long swapWaitMs)
            throws Exception {
        backend.close();
        throw new UnsupportedOperationException("this virtio-blk driver cannot wait for a reconnect");
    }

    /**
     * As {@link #openDevice(VhostBackend, int, int, boolean, boolean)}; {@code inOrder} true
     * negotiates VIRTIO_F_IN_ORDER when offered ({@code in.order=true}), else it is left out.
     *
     * @throws UnsupportedOperationException by default when {@code inOrder} is true
     */
    default BlockDevice openDevice(VhostBackend backend, int queues, int queueSize, boolean poll, boolean packed, boolean inOrder)
            throws Exception {
        if (inOrder) {
            backend.close();
            throw new UnsupportedOperationException("this virtio-blk driver cannot negotiate VIRTIO_F_IN_ORDER");
        }
        return openDevice(backend, queues, queueSize, poll, packed);
    }

    /**
     * As {@link #openReconnectable(VhostBackend, int, int, boolean, long)}; {@code inOrder} true
     * negotiates VIRTIO_F_IN_ORDER when offered, so a rebind may then go only to back-ends offering it.
     *
     * @throws UnsupportedOperationException by default when {@code inOrder} is true
     */
    default BlockDevice openReconnectable(VhostBackend backend, int queues, int queueSize, boolean poll, long swapWaitMs, boolean inOrder)
            throws Exception {
        if (inOrder) {
            backend.close();
            throw new UnsupportedOperationException("this virtio-blk driver cannot negotiate VIRTIO_F_IN_ORDER");
        }
        return openReconnectable(backend, queues, queueSize, poll, swapWaitMs);
    }

    /** @return the reconnect view of a device from {@link #openReconnectable}, or null for another device */
    default Reconnectable reconnectable(BlockDevice device) {
        return null;
    }

    /** A running write-then-verify workload with checksums (see {@link #startVerifiedWorkload}). */
    interface VerifiedLoad {
        /** @return writes completed so far */
        long writes();

        /**
         * Stops the workers (bounded), reads back every block written and checks it.
         *
         * @return {@code {writes, reads, lost, duplicated, corrupted}}; the first error (or null)
         *     through {@link #firstError()}
         */
        long[] stop() throws InterruptedException;

        /** @return the first problem seen, or null */
        String firstError();
    }

    /**
     * Starts a write-then-verify workload: {@code workers} threads each write {@code depth}
     * blocks of {@code blockBytes} (block number, version, checksum, payload) in the first
     * {@code regionBytes} of the device, then read them back and check them.
     *
     * The default counts no duplicates (it has no device counter of completed requests).
     */
    default VerifiedLoad startVerifiedWorkload(BlockDevice device, long regionBytes, int blockBytes, int workers, int depth,
            long seed) {
        return verifiedLoad(new VerifiedWorkload(device, regionBytes, blockBytes, workers, depth, seed, null));
    }

    /** Starts {@code w} and shows it as a {@link VerifiedLoad}. */
    static VerifiedLoad verifiedLoad(VerifiedWorkload w) {
        w.start();
        return new VerifiedLoad() {
            private volatile String firstError;

            @Override
            public long writes() {
                return w.writes();
            }

            @Override
            public long[] stop() throws InterruptedException {
                VerifiedWorkload.Result r = w.stop();
                firstError = r.firstError();
                return new long[] {r.writes(), r.reads(), r.lost(), r.duplicated(), r.corrupted()};
            }

            @Override
            public String firstError() {
                return firstError;
            }
        };
    }
}
