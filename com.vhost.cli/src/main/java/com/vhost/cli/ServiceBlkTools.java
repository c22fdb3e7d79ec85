package com.vhost.cli;

import com.vhost.api.VhostBackend;
import com.vhost.api.backend.BackendServer;
import com.vhost.api.backend.DeviceModel;
import com.vhost.api.backend.DeviceModelFactory;
import com.vhost.api.backend.ServedBackend;
import com.vhost.api.blk.BlockCompletion;
import com.vhost.api.blk.BlockDevice;
import com.vhost.api.blk.BlockQueue;
import com.vhost.api.blk.BlockQueues;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.api.registry.VirtioDriverFactory;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.spi.workload.VerifiedWorkload;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Map;

/**
 * {@link BlkTools} over services only: the virtio-blk {@link DeviceModelFactory} and
 * {@link VirtioDriverFactory} of bundle {@code com.vhost.devices.blk}, and the vhost-user
 * {@link BackendServer} of bundle {@code com.vhost.user}. A missing bundle is named in the
 * {@link IllegalStateException} of the first call that needs it.
 */
final class ServiceBlkTools implements BlkTools {
    private final CliServices services;
    private final Drivers drivers = new Drivers();

    ServiceBlkTools(CliServices services) {
        this.services = services;
    }

    @Override
    public Served serveImage(Path socket, Path image, boolean readOnly, int queues, int queueSize) throws Exception {
        DeviceModel model = models().create(Map.of(DeviceConfigKeys.IMAGE, image.toString(), DeviceConfigKeys.READ_ONLY, readOnly,
                DeviceConfigKeys.QUEUES, queues, DeviceConfigKeys.QUEUE_SIZE, queueSize));
        return serve(socket, model, image + (readOnly ? " (read-only)" : ""), queues);
    }

    @Override
    public Served serveMemory(Path socket, long capacityBytes, int queues, int queueSize) throws Exception {
        DeviceModel model = models().create(Map.of(DeviceConfigKeys.MEMORY_SIZE, capacityBytes, DeviceConfigKeys.QUEUES, queues,
                DeviceConfigKeys.QUEUE_SIZE, queueSize));
        return serve(socket, model, "memory", queues);
    }

    @Override
    public BlockDevice openDevice(VhostBackend backend, int queues, int queueSize, boolean poll) throws Exception {
        VirtioDriverFactory factory;
        try {
            factory = services.service(VirtioDriverFactory.class, "(" + VirtioDriverFactory.DEVICE_TYPE + "=blk)",
                    "virtio-blk driver factory", "com.vhost.devices.blk");
        } catch (RuntimeException | InterruptedException e) {
            backend.close();
            throw e;
        }
        // A one-shot command fails at once when its back-end goes away instead of waiting for a rebind.
        VirtioDriver driver = factory.create(backend, Map.of(DeviceConfigKeys.QUEUES, queues, DeviceConfigKeys.QUEUE_SIZE, queueSize,
                DeviceConfigKeys.POLL, poll, DeviceConfigKeys.DETACH_ON_LOSS, false));
        BlockDevice device = driver.api(BlockDevice.class);
        if (device == null) {
            driver.close();
            throw new IllegalStateException("the virtio-blk driver factory made a driver without a BlockDevice: " + driver.summary());
        }
        drivers.put(device, driver);
        return device;
    }

    @Override
    public RawQueue rawQueue(BlockDevice device, int index, CompletionSink sink) {
        VirtioDriver driver = drivers.get(device);
        BlockQueues queues = driver == null ? null : driver.api(BlockQueues.class);
        if (queues == null) {
            return null;
        }
        BlockQueue q = queues.queue(index);
        com.vhost.api.blk.BlockCompletion completion = sink::complete; // one adapter per queue, none per request
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
        VirtioDriver driver = drivers.get(device);
        if (driver == null) {
            return null;
        }
        return new Swappable() {
            @Override
            public void rebind(VhostBackend newBackend) throws Exception {
                driver.rebind(newBackend);
            }

            @Override
            public long pausesMeasured() {
                return driver.counters().getOrDefault("pauses.measured", 0L);
            }

            @Override
            public long lastPauseNanos() {
                return driver.counters().getOrDefault("last.pause.ns", -1L);
            }

            @Override
            public long completedRequests() {
                return driver.counters().getOrDefault("requests", 0L);
            }
        };
    }

    @Override
    public VerifiedLoad startVerifiedWorkload(BlockDevice device, long regionBytes, int blockBytes, int workers, int depth,
            long seed) {
        VirtioDriver driver = drivers.get(device);
        java.util.function.LongSupplier completions = driver == null ? null
                : () -> driver.counters().getOrDefault("requests", 0L);
        return BlkTools.verifiedLoad(new VerifiedWorkload(device, regionBytes, blockBytes, workers, depth, seed, completions));
    }

    private DeviceModelFactory models() throws InterruptedException {
        return services.service(DeviceModelFactory.class, "(" + DeviceModelFactory.DEVICE_TYPE + "=blk)",
                "virtio-blk device model factory", "com.vhost.devices.blk");
    }

    private Served serve(Path socket, DeviceModel model, String what, int queues) throws Exception {
        BackendServer server;
        try {
            server = services.service(BackendServer.class, null, "vhost-user back-end server", "com.vhost.user");
        } catch (RuntimeException | InterruptedException e) {
            model.close();
            throw e;
        }
        ServedBackend served = server.serve(socket, model);
        long capacity = capacityOf(model.device());
        String describe = "virtio-blk " + what + ", " + Sizes.human(capacity) + ", " + queues + " queue(s), on " + socket;
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
