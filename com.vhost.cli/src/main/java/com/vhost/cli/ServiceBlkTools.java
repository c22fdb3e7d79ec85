package com.vhost.cli;

import com.vhost.api.VhostBackend;
import com.vhost.api.backend.DeviceModel;
import com.vhost.api.backend.ServedBackend;
import com.vhost.api.backend.SocketOptions;
import com.vhost.api.blk.BlockCompletion;
import com.vhost.api.blk.BlockDevice;
import com.vhost.api.blk.BlockQueue;
import com.vhost.api.blk.BlockQueues;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.spi.workload.VerifiedWorkload;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * {@link BlkTools} over services only: the virtio-blk {@code DeviceModelFactory} and
 * {@code VirtioDriverFactory} of bundle {@code com.vhost.devices.blk}, and the vhost-user
 * {@code BackendServer} of bundle {@code com.vhost.user} (see {@link DriverServices}). A missing
 * bundle is named in the {@link IllegalStateException} of the first call that needs it.
 */
final class ServiceBlkTools implements BlkTools {
    private final DriverServices blk;

    ServiceBlkTools(CliServices services) {
        this.blk = new DriverServices(services, "blk", "virtio-blk", "com.vhost.devices.blk");
    }

    @Override
    public Served serveImage(Path socket, SocketOptions access, Path image, boolean readOnly, int queues, int queueSize,
            String aio, boolean direct, boolean randomOrder) throws Exception {
        // "complete.order" is the blk model's key (BlkModelFactory.COMPLETE_ORDER)
        DeviceModel model = blk.model(Map.of(DeviceConfigKeys.IMAGE, image.toString(), DeviceConfigKeys.READ_ONLY, readOnly,
                DeviceConfigKeys.QUEUES, queues, DeviceConfigKeys.QUEUE_SIZE, queueSize, DeviceConfigKeys.AIO, aio,
                DeviceConfigKeys.DIRECT, direct, "complete.order", randomOrder ? "random" : "in-order"));
        String engine = ("io_uring".equals(aio) ? ", aio io_uring" + (direct ? ", O_DIRECT" : "") : ", aio " + aio)
                + (randomOrder ? ", random completion order" : "");
        return serve(socket, access, model, image + (readOnly ? " (read-only)" : ""), queues, engine);
    }

    @Override
    public Served serveMemory(Path socket, SocketOptions access, long capacityBytes, int queues, int queueSize)
            throws Exception {
        DeviceModel model = blk.model(Map.of(DeviceConfigKeys.MEMORY_SIZE, capacityBytes, DeviceConfigKeys.QUEUES, queues,
                DeviceConfigKeys.QUEUE_SIZE, queueSize));
        return serve(socket, access, model, "memory", queues, "");
    }

    @Override
    public BlockDevice openDevice(VhostBackend backend, int queues, int queueSize, boolean poll) throws Exception {
        return blk.open(backend, queues, queueSize, poll, BlockDevice.class);
    }

    @Override
    public BlockDevice openDevice(VhostBackend backend, int queues, int queueSize, boolean poll, boolean packed) throws Exception {
        return blk.open(backend, queues, queueSize, poll,
                Map.of(DeviceConfigKeys.DETACH_ON_LOSS, false, DeviceConfigKeys.PACKED, packed), BlockDevice.class);
    }

    @Override
    public BlockDevice openDevice(VhostBackend backend, int queues, int queueSize, boolean poll, boolean packed, boolean inOrder)
            throws Exception {
        return blk.open(backend, queues, queueSize, poll, Map.of(DeviceConfigKeys.DETACH_ON_LOSS, false, DeviceConfigKeys.PACKED, packed,
                DeviceConfigKeys.IN_ORDER, inOrder), BlockDevice.class);
    }

    @Override
    public BlockDevice openReconnectable(VhostBackend backend, int queues, int queueSize, boolean poll, long swapWaitMs, boolean inOrder)
            throws Exception {
        return blk.open(backend, queues, queueSize, poll, Map.of(DeviceConfigKeys.DETACH_ON_LOSS, true, DeviceConfigKeys.SWAP_WAIT_MS,
                swapWaitMs, DeviceConfigKeys.IN_ORDER, inOrder), BlockDevice.class);
    }

    @Override
    public BlockDevice openReconnectable(VhostBackend backend, int queues, int queueSize, boolean poll, long swapWaitMs)
            throws Exception {
        return blk.openReconnectable(backend, queues, queueSize, poll, swapWaitMs, BlockDevice.class);
    }

    @Override
    public Reconnectable reconnectable(BlockDevice device) {
        ReconnectView view = blk.reconnectView(device);
        LongSupplier requests = completedRequests(device);
        if (view == null) {
            return null;
        }
        return new Reconnectable() {
            @Override
            public boolean detached() {
                return view.detached();
            }

            @Override
            public void rebind(VhostBackend newBackend) throws Exception {
                view.rebind(newBackend);
            }

            @Override
            public long completedRequests() {
                return requests.getAsLong();
            }
        };
    }

    @Override
    public RawQueue rawQueue(BlockDevice device, int index, CompletionSink sink) {
        VirtioDriver driver = blk.driver(device);
        BlockQueues queues = driver == null ? null : driver.api(BlockQueues.class);
        if (queues == null) {
            return null;
        }
        BlockQueue q = queues.queue(index);
        BlockCompletion completion = sink::complete; // one adapter per queue, none per request
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
        MeasuredSwap swap = blk.measuredSwap(device);
        if (swap == null) {
            return null;
        }
        LongSupplier requests = completedRequests(device);
        return new Swappable() {
            @Override
            public void rebind(VhostBackend newBackend) throws Exception {
                swap.rebind(newBackend);
            }

            @Override
            public long pausesMeasured() {
                return swap.pausesMeasured();
            }

            @Override
            public long lastPauseNanos() {
                return swap.lastPauseNanos();
            }

            @Override
            public long completedRequests() {
                return requests.getAsLong();
            }
        };
    }

    @Override
    public VerifiedLoad startVerifiedWorkload(BlockDevice device, long regionBytes, int blockBytes, int workers, int depth,
            long seed) {
        return BlkTools.verifiedLoad(new VerifiedWorkload(device, regionBytes, blockBytes, workers, depth, seed,
                completedRequests(device)));
    }

    /** @return the driver's count of completed requests, or null for a device the CLI did not open */
    private LongSupplier completedRequests(BlockDevice device) {
        VirtioDriver driver = blk.driver(device);
        return driver == null ? null : () -> driver.counters().getOrDefault("requests", 0L);
    }

    private Served serve(Path socket, SocketOptions access, DeviceModel model, String what, int queues, String engine)
            throws Exception {
        ServedBackend served = blk.serve(socket, access, model);
        long capacity = capacityOf(model.device());
        String describe = "virtio-blk " + what + ", " + Sizes.human(capacity) + ", " + queues + " queue(s)" + engine + ", on " + socket;
        return new Served() {
            @Override
            public Path socket() {
                return socket;
            }

            @Override
            public long capacityBytes() {
                return capacity;
            }

            @Override
            public String describe() {
                return describe;
            }

            @Override
            public void close() {
                served.close();
            }
        };
    }

    /** Reads config {@code capacity} (le64, sectors of 512 bytes; VIRTIO 1.2 section 5.2.4) in bytes. */
    static long capacityOf(VirtioDevice model) {
        byte[] cfg = new byte[8];
        model.readConfig(VirtioBlk.CFG_CAPACITY, cfg);
        return ByteBuffer.wrap(cfg).order(ByteOrder.LITTLE_ENDIAN).getLong() * VirtioBlk.SECTOR_SIZE;
    }
}
