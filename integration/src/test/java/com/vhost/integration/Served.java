package com.vhost.integration;

import com.vhost.api.backend.BackendServer;
import com.vhost.api.backend.DeviceModel;
import com.vhost.api.backend.DeviceModelFactory;
import com.vhost.api.backend.ServedBackend;
import com.vhost.api.registry.DeviceConfigKeys;
import java.nio.file.Path;
import java.util.Map;
import org.osgi.framework.BundleContext;
import org.osgi.util.tracker.ServiceTracker;

/**
 * Device models served as vhost-user back-ends through the platform's services, as any bundle
 * would: a {@link DeviceModelFactory} of the device bundle and the {@link BackendServer} of
 * {@code com.vhost.user} (the tests link against API packages only).
 */
final class Served {
    private static final long WAIT_MS = 10_000;

    private Served() {}

    /** Serves {@code image} read-write with {@code queues} queues of at most {@code queueSize}. */
    static ServedBackend blkImage(BundleContext ctx, Path socket, Path image, int queues, int queueSize) throws Exception {
        return serve(ctx, socket, "blk", Map.of(DeviceConfigKeys.IMAGE, image.toString(), DeviceConfigKeys.QUEUES, queues,
                DeviceConfigKeys.QUEUE_SIZE, queueSize));
    }

    /** Serves a zeroed in-memory disk of {@code bytes}. */
    static ServedBackend blkMemory(BundleContext ctx, Path socket, long bytes, int queues, int queueSize) throws Exception {
        return serve(ctx, socket, "blk", Map.of(DeviceConfigKeys.MEMORY_SIZE, bytes, DeviceConfigKeys.QUEUES, queues,
                DeviceConfigKeys.QUEUE_SIZE, queueSize));
    }

    /** Serves the net loopback (echo) model with {@code pairs} queue pairs and the default MAC and MTU. */
    static ServedBackend netLoopback(BundleContext ctx, Path socket, int pairs) throws Exception {
        return serve(ctx, socket, "net", Map.of(DeviceConfigKeys.QUEUES, pairs));
    }

    private static ServedBackend serve(BundleContext ctx, Path socket, String type, Map<String, Object> config) throws Exception {
        DeviceModelFactory models = await(ctx, DeviceModelFactory.class, "(" + DeviceModelFactory.DEVICE_TYPE + "=" + type + ")");
        DeviceModel model = models.create(config);
        return await(ctx, BackendServer.class, null).serve(socket, model);
    }

    private static <T> T await(BundleContext ctx, Class<T> type, String filter) throws Exception {
        String f = "(objectClass=" + type.getName() + ")";
        if (filter != null) {
            f = "(&" + f + filter + ")";
        }
        ServiceTracker<T, T> t = new ServiceTracker<>(ctx, ctx.createFilter(f), null);
        t.open();
        try {
            T s = t.waitForService(WAIT_MS);
            if (s == null) {
                throw new AssertionError("no service " + f + " within " + WAIT_MS + " ms");
            }
            return s;
        } finally {
            t.close();
        }
    }
}
