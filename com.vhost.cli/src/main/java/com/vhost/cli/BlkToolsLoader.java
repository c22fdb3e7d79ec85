package com.vhost.cli;

import com.vhost.api.VhostBackend;
import com.vhost.api.blk.BlockDevice;
import java.nio.file.Path;

/**
 * Loads {@link com.vhost.cli.embedded.EmbeddedBlkTools}, which links against
 * {@code com.vhost.devices.blk} and {@code com.vhost.user}. The bundle imports those packages
 * optionally, so the CLI still resolves without them; then every operation fails with a message
 * naming the missing bundle instead of a {@link NoClassDefFoundError}.
 */
final class BlkToolsLoader {
    private BlkToolsLoader() {}

    static BlkTools load() {
        try {
            return new Guarded(new com.vhost.cli.embedded.EmbeddedBlkTools());
        } catch (LinkageError e) {
            return new Missing(e);
        }
    }

    /**
     * Classes are linked lazily, so a missing package shows up on the first call that needs it;
     * this turns that {@link LinkageError} into the same explanation {@link Missing} gives.
     */
    record Guarded(BlkTools delegate) implements BlkTools {
        @Override
        public Served serveImage(Path socket, Path image, boolean readOnly, int queues, int queueSize) throws Exception {
            try {
                return delegate.serveImage(socket, image, readOnly, queues, queueSize);
            } catch (LinkageError e) {
                throw new Missing(e).fail();
            }
        }

        @Override
        public Served serveMemory(Path socket, long capacityBytes, int queues, int queueSize) throws Exception {
            try {
                return delegate.serveMemory(socket, capacityBytes, queues, queueSize);
            } catch (LinkageError e) {
                throw new Missing(e).fail();
            }
        }

        @Override
        public BlockDevice openDevice(VhostBackend backend, int queues, int queueSize, boolean poll) throws Exception {
            try {
                return delegate.openDevice(backend, queues, queueSize, poll);
            } catch (LinkageError e) {
                throw new Missing(e).fail();
            }
        }

        @Override
        public RawQueue rawQueue(BlockDevice device, int index, CompletionSink sink) throws Exception {
            try {
                return delegate.rawQueue(device, index, sink);
            } catch (LinkageError e) {
                throw new Missing(e).fail();
            }
        }

        @Override
        public Swappable swappable(BlockDevice device) {
            try {
                return delegate.swappable(device);
            } catch (LinkageError e) {
                throw new Missing(e).fail();
            }
        }

        @Override
        public VerifiedLoad startVerifiedWorkload(BlockDevice device, long regionBytes, int blockBytes, int workers, int depth,
                long seed) {
            try {
                return delegate.startVerifiedWorkload(device, regionBytes, blockBytes, workers, depth, seed);
            } catch (LinkageError e) {
                throw new Missing(e).fail();
            }
        }
    }

    /** Every call explains which implementation bundle is absent. */
    record Missing(LinkageError cause) implements BlkTools {
        @Override
        public VerifiedLoad startVerifiedWorkload(BlockDevice device, long regionBytes, int blockBytes, int workers, int depth,
                long seed) {
            throw fail();
        }

        IllegalStateException fail() {
            return new IllegalStateException("virtio-blk tools unavailable: the bundles com.vhost.devices.blk and "
                    + "com.vhost.user must be installed and export com.vhost.devices.blk.model, "
                    + "com.vhost.devices.blk.driver and com.vhost.user.backend (missing: " + cause.getMessage() + ")", cause);
        }

        @Override
        public Served serveImage(Path socket, Path image, boolean readOnly, int queues, int queueSize) {
            throw fail();
        }

        @Override
        public Served serveMemory(Path socket, long capacityBytes, int queues, int queueSize) {
            throw fail();
        }

        @Override
        public BlockDevice openDevice(VhostBackend backend, int queues, int queueSize, boolean poll) {
            throw fail();
        }

        @Override
        public RawQueue rawQueue(BlockDevice device, int index, CompletionSink sink) {
            throw fail();
        }
    }
}
