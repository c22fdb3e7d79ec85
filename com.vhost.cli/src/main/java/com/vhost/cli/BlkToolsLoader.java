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
        /** A call into the implementation bundles. */
        @FunctionalInterface
        interface Call<T> {
            T run() throws Exception;
        }

        /** @return what {@code call} returns; a {@link LinkageError} becomes {@link Missing#fail()} */
        static <T> T guard(Call<T> call) throws Exception {
            try {
                return call.run();
            } catch (LinkageError e) {
                throw new Missing(e).fail();
            }
        }

        /** {@link #guard} for calls that throw no checked exception. */
        static <T> T guardUnchecked(java.util.function.Supplier<T> call) {
            try {
                return call.get();
            } catch (LinkageError e) {
                throw new Missing(e).fail();
            }
        }

        @Override
        public Served serveImage(Path socket, Path image, boolean readOnly, int queues, int queueSize) throws Exception {
            return guard(() -> delegate.serveImage(socket, image, readOnly, queues, queueSize));
        }

        @Override
        public Served serveMemory(Path socket, long capacityBytes, int queues, int queueSize) throws Exception {
            return guard(() -> delegate.serveMemory(socket, capacityBytes, queues, queueSize));
        }

        @Override
        public BlockDevice openDevice(VhostBackend backend, int queues, int queueSize, boolean poll) throws Exception {
            return guard(() -> delegate.openDevice(backend, queues, queueSize, poll));
        }

        @Override
        public RawQueue rawQueue(BlockDevice device, int index, CompletionSink sink) throws Exception {
            return guard(() -> delegate.rawQueue(device, index, sink));
        }

        @Override
        public Swappable swappable(BlockDevice device) {
            return guardUnchecked(() -> delegate.swappable(device));
        }

        @Override
        public VerifiedLoad startVerifiedWorkload(BlockDevice device, long regionBytes, int blockBytes, int workers, int depth,
                long seed) {
            return guardUnchecked(() -> delegate.startVerifiedWorkload(device, regionBytes, blockBytes, workers, depth, seed));
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
