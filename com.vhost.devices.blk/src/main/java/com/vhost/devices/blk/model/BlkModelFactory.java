package com.vhost.devices.blk.model;

import static com.vhost.spi.driver.ConfigValues.bool;
import static com.vhost.spi.driver.ConfigValues.number;

import com.vhost.api.VhostException;
import com.vhost.api.backend.DeviceModel;
import com.vhost.api.backend.DeviceModelFactory;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.virtio.VirtioDevice;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Map;
import org.osgi.service.component.annotations.Component;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes virtio-blk models ({@link FileBlockModel}) for the vhost-user back-end server.
 * Configuration ({@link DeviceConfigKeys}): {@code image} (a raw image file) or
 * {@code memory.size} (bytes, a multiple of 512: a zeroed disk in memory), {@code read.only}
 * (default false; images only), {@code queues} (1..256, default 1), {@code queue.size} (largest
 * ring accepted, a power of two in 2..32768, default 256), {@code aio} ({@code threads}, the default,
 * or {@code io_uring}), {@code direct} (O_DIRECT, images with {@code aio=io_uring} only) and
 * {@code complete.order} ({@link #COMPLETE_ORDER}: {@code in-order}, the default, or
 * {@code random}: requests complete in random order, {@code aio=threads} only, see
 * {@link FileBlockModel#completeInRandomOrder}).
 */
@Component(service = DeviceModelFactory.class, property = DeviceModelFactory.DEVICE_TYPE + "=blk")
public final class BlkModelFactory implements DeviceModelFactory {
    private static final Logger LOG = LoggerFactory.getLogger(BlkModelFactory.class);
    /** Largest ring accepted when {@code queue.size} is absent. */
    public static final int DEFAULT_QUEUE_SIZE = 256;
    /** Config key: {@code in-order} (default) or {@code random} completion of requests. */
    public static final String COMPLETE_ORDER = "complete.order";

    @Override
    public String deviceType() {
        return "blk";
    }

    @Override
    public DeviceModel create(Map<String, Object> config) throws VhostException {
        int queues = (int) number(config, DeviceConfigKeys.QUEUES, 1);
        int queueSize = (int) number(config, DeviceConfigKeys.QUEUE_SIZE, DEFAULT_QUEUE_SIZE);
        Object image = config.get(DeviceConfigKeys.IMAGE);
        Object memory = config.get(DeviceConfigKeys.MEMORY_SIZE);
        if ((image == null) == (memory == null)) {
            throw new IllegalArgumentException("blk model: give exactly one of '" + DeviceConfigKeys.IMAGE + "' and '"
                    + DeviceConfigKeys.MEMORY_SIZE + "'");
        }
        Object aioText = config.get(DeviceConfigKeys.AIO);
        FileBlockModel.Aio aio = aioText == null ? FileBlockModel.Aio.THREADS : FileBlockModel.Aio.parse(aioText.toString());
        boolean direct = bool(config, DeviceConfigKeys.DIRECT, false);
        FileBlockModel model;
        String what;
        if (image != null) {
            boolean readOnly = bool(config, DeviceConfigKeys.READ_ONLY, false);
            model = FileBlockModel.open(Path.of(image.toString()), readOnly, queues, queueSize, aio, direct);
            what = image + (readOnly ? " (read-only)" : "");
        } else {
            if (direct) {
                throw new IllegalArgumentException("blk model: '" + DeviceConfigKeys.DIRECT + "' needs an image, not memory");
            }
            model = FileBlockModel.inMemory(number(config, DeviceConfigKeys.MEMORY_SIZE, 0), queues, queueSize, aio);
            what = "memory";
        }
        if (aio == FileBlockModel.Aio.IO_URING) {
            what += ", aio io_uring" + (direct ? ", O_DIRECT" : "");
        }
        Object order = config.getOrDefault(COMPLETE_ORDER, "in-order");
        if ("random".equals(order)) {
            try {
                model.completeInRandomOrder(System.nanoTime());
            } catch (IllegalStateException e) {
                model.close(); // io_uring: it has an order of its own
                throw new IllegalArgumentException(e.getMessage(), e);
            }
            what += ", completing in random order";
        } else if (!"in-order".equals(order)) {
            model.close();
            throw new IllegalArgumentException("blk model: '" + COMPLETE_ORDER + "' is '" + order + "', not 'in-order' or 'random'");
        }
        return new Model(model, "virtio-blk " + what + ", " + capacityOf(model) + " bytes, " + queues + " queue(s)", queues,
                java.util.Collections.unmodifiableMap(new java.util.HashMap<>(config)));
    }

    /** Reads config {@code capacity} (le64, sectors of 512 bytes; VIRTIO 1.2 section 5.2.4) in bytes. */
    static long capacityOf(VirtioDevice model) {
        byte[] cfg = new byte[8];
        model.readConfig(VirtioBlk.CFG_CAPACITY, cfg);
        return ByteBuffer.wrap(cfg).order(ByteOrder.LITTLE_ENDIAN).getLong() * VirtioBlk.SECTOR_SIZE;
    }

    private record Model(FileBlockModel device, String describe, int queues, Map<String, Object> configuration) implements DeviceModel {
        /**
         * @return {@code requests}, {@code bytes.read}, {@code bytes.written} (totals over the
         *     queues; requests of any status, bytes moved between the image and guest buffers) and
         *     the same per queue as {@code queue.N.requests} ...
         */
        @Override
        public Map<String, Long> counters() {
            Map<String, Long> m = new java.util.LinkedHashMap<>();
            long requests = 0;
            long read = 0;
            long written = 0;
            for (int q = 0; q < queues; q++) {
                QueueCounters c = device.counters(q);
                requests += c.requests();
                read += c.bytesRead();
                written += c.bytesWritten();
                m.put("queue." + q + ".requests", c.requests());
                m.put("queue." + q + ".bytes.read", c.bytesRead());
                m.put("queue." + q + ".bytes.written", c.bytesWritten());
            }
            m.put("requests", requests);
            m.put("bytes.read", read);
            m.put("bytes.written", written);
            return m;
        }

        @Override
        public void close() {
            try {
                device.close();
            } catch (VhostException e) {
                // The image is released all the same (FileBlockModel.close closes it in a finally).
                LOG.warn("closing {}: {}", describe, e.getMessage());
            }
        }
    }
}
