package com.vhost.cli.embedded;

import com.vhost.api.VhostBackend;
import com.vhost.api.blk.BlockDevice;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.cli.BlkTools;
import com.vhost.cli.Sizes;
import com.vhost.devices.blk.driver.BlkCompletion;
import com.vhost.devices.blk.driver.BlkDriverOptions;
import com.vhost.devices.blk.driver.BlkRequestQueue;
import com.vhost.devices.blk.driver.BlockDevices;
import com.vhost.devices.blk.driver.VirtioBlkDriver;
import com.vhost.devices.blk.model.FileBlockModel;
import com.vhost.user.backend.VhostUserServer;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * {@link BlkTools} over the implementation bundles: {@link FileBlockModel} served by
 * {@link VhostUserServer}, and the driver from {@link BlockDevices#open}. The only class in this
 * bundle that names them (they are imported optionally; see {@code BlkToolsLoader}).
 */
public final class EmbeddedBlkTools implements BlkTools {

    @Override
    public Served serveImage(Path socket, Path image, boolean readOnly, int queues, int queueSize) throws Exception {
        VirtioDevice model = FileBlockModel.open(image, readOnly, queues, queueSize);
        return serve(socket, model, image + (readOnly ? " (read-only)" : ""), queues);
    }

    @Override
    public Served serveMemory(Path socket, long capacityBytes, int queues, int queueSize) throws Exception {
        VirtioDevice model = FileBlockModel.inMemory(capacityBytes, queues, queueSize);
        return serve(socket, model, "memory", queues);
    }

    @Override
    public BlockDevice openDevice(VhostBackend backend, int queues, int queueSize, boolean poll) throws Exception {
        BlkDriverOptions d = BlkDriverOptions.defaults();
        return BlockDevices.open(backend, new BlkDriverOptions(queues, queueSize, poll, d.bufferPoolBytes()));
    }

    @Override
    public RawQueue rawQueue(BlockDevice device, int index, CompletionSink sink) throws Exception {
        if (!(device instanceof VirtioBlkDriver driver)) {
            return null;
        }
        BlkRequestQueue q = driver.queue(index);
        BlkCompletion completion = sink::complete; // one adapter per queue, none per request
        return new RawQueue() {
            @Override
            public boolean submit(int type, long offset, MemorySegment buffer, long tag) throws Exception {
                return q.submit(type, offset, buffer, tag);
            }

            @Override
            public void kick() throws Exception {
                q.kick();
            }

            @Override
            public int await(long timeoutNanos) throws Exception {
                return q.await(completion, timeoutNanos);
            }
        };
    }

    @Override
    public Swappable swappable(BlockDevice device) {
        if (!(device instanceof VirtioBlkDriver driver)) {
            return null;
        }
        return new Swappable() {
            @Override
            public void rebind(VhostBackend newBackend) throws Exception {
                driver.rebind(newBackend);
            }

            @Override
            public long pausesMeasured() {
                return driver.pausesMeasured();
            }

            @Override
            public long lastPauseNanos() {
                return driver.lastPauseNanos();
            }

            @Override
            public long completedRequests() {
                return driver.completedRequests();
            }
        };
    }

    @Override
    public VerifiedLoad startVerifiedWorkload(BlockDevice device, long regionBytes, int blockBytes, int workers, int depth,
            long seed) {
        java.util.function.LongSupplier completions = device instanceof VirtioBlkDriver d ? d::completedRequests : null;
        com.vhost.devices.blk.driver.VerifiedWorkload w = new com.vhost.devices.blk.driver.VerifiedWorkload(device,
                regionBytes, blockBytes, workers, depth, seed, completions);
        w.start();
        return new VerifiedLoad() {
            private volatile String firstError;

            @Override
            public long writes() {
                return w.writes();
            }

            @Override
            public long[] stop() throws InterruptedException {
                com.vhost.devices.blk.driver.VerifiedWorkload.Result r = w.stop();
                firstError = r.firstError();
                return new long[] {r.writes(), r.reads(), r.lost(), r.duplicated(), r.corrupted()};
            }

            @Override
            public String firstError() {
                return firstError;
            }
        };
    }

    private static Served serve(Path socket, VirtioDevice model, String what, int queues) throws Exception {
        VhostUserServer server;
        try {
            server = new VhostUserServer(socket, model);
            server.start();
        } catch (Exception | Error e) {
            closeModel(model);
            throw e;
        }
        long capacity = capacityOf(model);
        String describe = "virtio-blk " + what + ", " + Sizes.human(capacity) + ", " + queues + " queue(s), on " + socket;
        return new RunningServer(socket, capacity, describe, server, model);
    }

    /** Reads config {@code capacity} (le64, sectors of 512 bytes; VIRTIO 1.2 section 5.2.4). */
    static long capacityOf(VirtioDevice model) {
        byte[] cfg = new byte[8];
        model.readConfig(VirtioBlk.CFG_CAPACITY, cfg);
        return ByteBuffer.wrap(cfg).order(ByteOrder.LITTLE_ENDIAN).getLong() * VirtioBlk.SECTOR_SIZE;
    }

    private static void closeModel(VirtioDevice model) {
        if (model instanceof AutoCloseable c) {
            try {
                c.close();
            } catch (Exception e) {
                // Already failing or closing; the model's own log names the problem.
            }
        }
    }

    private record RunningServer(Path socket, long capacityBytes, String describe, VhostUserServer server,
            VirtioDevice model, AtomicBoolean closed) implements Served {
        RunningServer(Path socket, long capacityBytes, String describe, VhostUserServer server, VirtioDevice model) {
            this(socket, capacityBytes, describe, server, model, new AtomicBoolean());
        }

        @Override
        public void close() {
            if (closed.getAndSet(true)) {
                return;
            }
            try {
                server.close();
            } catch (Exception e) {
                throw new IllegalStateException("stopping vhost-user server on " + socket + ": " + e.getMessage(), e);
            } finally {
                closeModel(model);
            }
        }
    }
}
