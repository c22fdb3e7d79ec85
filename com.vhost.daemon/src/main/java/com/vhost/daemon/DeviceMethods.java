package com.vhost.daemon;

import com.vhost.api.blk.BlockDevice;
import com.vhost.api.net.NetDevice;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.DeviceRegistry;
import com.vhost.daemon.rpc.Params;
import com.vhost.daemon.rpc.RpcException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Dictionary;
import java.util.Hashtable;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.osgi.service.cm.Configuration;
import org.osgi.service.cm.ConfigurationAdmin;

/**
 * The {@code device_*} methods over the {@link DeviceRegistry} and Configuration Admin: a device is
 * a factory configuration of PID {@value DeviceRegistry#DEVICE_FACTORY_PID} named by its id
 * ({@code com.vhost.device~ID}), as a {@code conf/com.vhost.device-ID.cfg} file makes one, and the
 * registry binds it.
 */
final class DeviceMethods {
    /** How long {@code device_create}, {@code device_swap} (across types) and {@code device_delete} wait for the registry, in ms. */
    static final long SETTLE_MS = 10_000;
    private static final long POLL_MS = 20;

    /** Largest snapshot file {@code device_restore} reads, in bytes. */
    static final int MAX_SNAPSHOT_BYTES = 16 << 20;
    /** Configuration property FileInstall puts on the configurations it made from a file. */
    static final String FILEINSTALL_FILENAME = "felix.fileinstall.filename";

    private final DeviceRegistry registry;
    private final ConfigurationAdmin cm;
    private final Path confDir;

    /**
     * @param confDir the configuration folder FileInstall watches ({@code conf/}): devices made by
     *     {@code device_create} are written there and outlive the daemon; null keeps them in
     *     Configuration Admin only (for as long as the process)
     */
    DeviceMethods(DeviceRegistry registry, ConfigurationAdmin cm, Path confDir) {
        this.registry = registry;
        this.cm = cm;
        this.confDir = confDir;
    }

    /** {@code device_create {id, type, backend_type, target, queues?}} → the device object once BOUND or FAILED (or WAITING after 10 s). */
    Object create(Params p) throws Exception {
        p.allowOnly("id", "type", "backend_type", "target", "queues", "queue_size");
        String id = id(p);
        String type = p.oneOf("type", null, "blk", "net");
        String backendType = p.oneOf("backend_type", null, "user", "kernel", "vdpa");
        String target = p.string("target");
        long queues = p.integer("queues", 1, 1, 65535);
        long queueSize = p.integer("queue_size", 256, 1, 32768);
        if (Long.bitCount(queueSize) != 1) {
            throw p.invalid("parameter 'queue_size' is " + queueSize + ", not a power of two");
        }
        Path file = confDir == null ? null : confDir.resolve(DeviceRegistry.DEVICE_FACTORY_PID + "-" + id + ".cfg");
        if (configuration(id).isPresent() || registry.device(id).isPresent() || (file != null && Files.exists(file))) {
            throw new RpcException(RpcException.EXISTS, "device '" + id + "' exists already");
        }
        Dictionary<String, Object> props = new Hashtable<>();
        props.put(DeviceConfigKeys.DEVICE_TYPE, type);
        props.put(DeviceConfigKeys.BACKEND_TYPE, backendType);
        props.put(DeviceConfigKeys.TARGET, target);
        props.put(DeviceConfigKeys.QUEUES, (int) queues);
        props.put(DeviceConfigKeys.QUEUE_SIZE, (int) queueSize);
        if (file != null) {
            writeConfigFile(file, props); // FileInstall makes the configuration from it, as from any conf/ file
        } else {
            cm.getFactoryConfiguration(DeviceRegistry.DEVICE_FACTORY_PID, id, "?").update(props);
        }
        Map<String, Object> m = describe(settle(id, file != null));
        m.put("file", file == null ? null : file.toString());
        return m;
    }

    /** Writes {@code props} as a FileInstall {@code .cfg} file (Java properties), atomically. */
    private static void writeConfigFile(Path file, Dictionary<String, Object> props) throws RpcException {
        StringBuilder b = new StringBuilder("# made by the vhost daemon's device_create; delete the file (or use device_delete) to remove the device\n");
        for (java.util.Enumeration<String> k = props.keys(); k.hasMoreElements();) {
            String key = k.nextElement();
            b.append(key).append('=').append(props.get(key)).append('\n');
        }
        try {
            Path tmp = Files.createTempFile(file.getParent(), ".device-", ".tmp");
            Files.writeString(tmp, b);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new RpcException(RpcException.OPERATION_FAILED, "cannot write device configuration " + file + ": " + e.getMessage());
        }
    }

    /**
     * {@code device_snapshot {id, path}} → {id, path, bytes}: the running device's snapshot
     * ({@link DeviceRegistry#snapshot}) written to {@code path} (mode 0600, replaced atomically).
     */
    Object snapshot(Params p) throws Exception {
        p.allowOnly("id", "path");
        DeviceInfo d = existing(id(p));
        Path path = Path.of(p.string("path")).toAbsolutePath();
        if (path.getParent() == null || !Files.isDirectory(path.getParent())) {
            throw p.invalid("parameter 'path': folder " + path.getParent() + " does not exist");
        }
        byte[] snap = registry.snapshot(d.id());
        try {
            Path tmp = Files.createTempFile(path.getParent(), ".snapshot-", ".tmp",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            Files.write(tmp, snap);
            Files.move(tmp, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new RpcException(RpcException.OPERATION_FAILED, "cannot write the snapshot to " + path + ": " + e.getMessage());
        }
        return Map.of("id", d.id(), "path", path.toString(), "bytes", snap.length);
    }

    /** {@code device_restore {id, path}} → {id, path, bytes, message}: returns the running device to a snapshot file. */
    Object restore(Params p) throws Exception {
        p.allowOnly("id", "path");
        DeviceInfo d = existing(id(p));
        Path path = Path.of(p.string("path"));
        byte[] snap;
        try {
            long size = Files.size(path);
            if (size > MAX_SNAPSHOT_BYTES) {
                throw p.invalid("parameter 'path': " + path + " has " + size + " bytes, more than a snapshot (" + MAX_SNAPSHOT_BYTES + ")");
            }
            snap = Files.readAllBytes(path);
        } catch (IOException e) {
            throw p.invalid("parameter 'path': cannot read " + path + ": " + e.getMessage());
        }
        String message = registry.restore(d.id(), snap);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", d.id());
        m.put("path", path.toString());
        m.put("bytes", snap.length);
        m.put("message", message);
        return m;
    }

    /** {@code device_list {}} → every device. */
    Object list(Params p) throws Exception {
        p.allowOnly();
        List<Object> l = new ArrayList<>();
        for (DeviceInfo d : registry.devices()) {
            l.add(describe(d));
        }
        return l;
    }

    /** {@code device_get {id}} → the device with its counters. */
    Object get(Params p) throws Exception {
        p.allowOnly("id");
        DeviceInfo d = existing(id(p));
        Map<String, Object> m = describe(d);
        m.put("counters", registry.counters(d.id()));
        return m;
    }

    /** {@code device_stats {id}} → the device's counters. */
    Object stats(Params p) throws Exception {
        p.allowOnly("id");
        return registry.counters(existing(id(p)).id());
    }

    /**
     * {@code device_swap {id, target, backend_type?}} → {@code {from, to, pause_ms, pause_measured,
     * switch_ms}}: a hot-swap of the running driver ({@link DeviceRegistry#swap}); {@code target} is
     * a socket/node path or the name of a VhostOps service. {@code pause_ms} is the I/O pause in
     * milliseconds (last completion on the old back-end to the first on the new) when requests were
     * running ({@code pause_measured} true), else the switch time, which bounds it. With another {@code backend_type} the configuration's type and
     * target change instead and the registry re-creates the driver ({@code pause_ms} null).
     */
    Object swap(Params p) throws Exception {
        p.allowOnly("id", "target", "backend_type");
        String id = id(p);
        String target = p.string("target");
        String backendType = p.oneOf("backend_type", "", "user", "kernel", "vdpa");
        return swap(id, target, backendType);
    }

    /**
     * The swap of {@link #swap(Params)} once its parameters are checked (the web console's form
     * comes in here too).
     *
     * @param backendType {@code user}, {@code kernel}, {@code vdpa}, or empty for the device's own
     * @throws RpcException {@link RpcException#NOT_FOUND} when there is no such device
     */
    Map<String, Object> swap(String id, String target, String backendType) throws Exception {
        DeviceInfo before = existing(id);
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("id", before.id());
        r.put("from", endpoint(before));
        Configuration cfg = configuration(before.id()).orElse(null);
        Object configured = cfg == null || cfg.getProperties() == null ? null : cfg.getProperties().get(DeviceConfigKeys.BACKEND_TYPE);
        if (!backendType.isEmpty() && configured != null && !backendType.equals(configured.toString())) {
            Dictionary<String, Object> props = cfg.getProperties();
            props.put(DeviceConfigKeys.BACKEND_TYPE, backendType);
            props.put(DeviceConfigKeys.TARGET, target);
            Object filename = props.get(FILEINSTALL_FILENAME);
            if (filename != null) {
                // made from a conf/ file: the file changes (and so outlives the daemon), FileInstall updates the configuration
                Dictionary<String, Object> own = new Hashtable<>();
                for (java.util.Enumeration<String> k = props.keys(); k.hasMoreElements();) {
                    String key = k.nextElement();
                    if (!key.startsWith("service.") && !key.startsWith("felix.fileinstall.")) {
                        own.put(key, props.get(key));
                    }
                }
                writeConfigFile(Path.of(java.net.URI.create(filename.toString())), own);
            } else {
                cfg.update(props);
            }
            waitUntil(before.id(), d -> target.equals(d.target()) && d.status() != DeviceInfo.Status.WAITING);
            DeviceInfo after = existing(before.id());
            r.put("to", endpoint(after));
            r.put("pause_ms", null);
            r.put("status", after.status().name());
            return r;
        }
        String line = registry.swap(before.id(), target);
        DeviceInfo after = existing(before.id());
        r.put("to", endpoint(after));
        Map<String, Long> c = registry.counters(before.id());
        long pauseUs = c.getOrDefault("last.pause.us", -1L);
        long switchUs = c.getOrDefault("last.switch.us", -1L);
        // The I/O pause (last completion on the old back-end to the first on the new) is measured
        // only when requests were running; otherwise the switch time bounds it.
        boolean measured = pauseUs >= 0;
        long us = measured ? pauseUs : switchUs;
        r.put("pause_ms", us < 0 ? null : us / 1000.0);
        r.put("pause_measured", measured);
        r.put("switch_ms", switchUs < 0 ? null : switchUs / 1000.0);
        r.put("message", line);
        return r;
    }

    /** {@code device_delete {id}}: deletes its configuration; the registry stops and closes the device. */
    Object delete(Params p) throws Exception {
        p.allowOnly("id");
        String id = id(p);
        Configuration cfg = configuration(id).orElseThrow(() -> new RpcException(RpcException.NOT_FOUND,
                "no device '" + id + "'" + (registry.device(id).isPresent() ? " made by a configuration this daemon can delete" : "")));
        Object filename = cfg.getProperties() == null ? null : cfg.getProperties().get(FILEINSTALL_FILENAME);
        if (filename != null) {
            try {
                Files.deleteIfExists(Path.of(java.net.URI.create(filename.toString())));
            } catch (IOException | IllegalArgumentException e) {
                throw new RpcException(RpcException.OPERATION_FAILED, "device '" + id + "' comes from " + filename + ", which cannot be deleted: "
                        + e.getMessage());
            }
        } else {
            cfg.delete();
        }
        long deadline = System.nanoTime() + SETTLE_MS * 1_000_000L;
        while (registry.device(id).isPresent()) {
            if (System.nanoTime() > deadline) {
                throw new RpcException(RpcException.OPERATION_FAILED, "device '" + id + "': configuration deleted, but the registry still lists it after "
                        + SETTLE_MS + " ms");
            }
            Thread.sleep(POLL_MS);
        }
        return Map.of("id", id, "deleted", true);
    }

    /** @return the device as the methods show it: id, type, status, backend, target, features, detail */
    Map<String, Object> describe(DeviceInfo d) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", d.id());
        m.put("type", d.deviceType());
        m.put("status", d.status().name());
        m.put("backend", d.backendName());
        m.put("target", d.target());
        Long features = features(d);
        m.put("features", features == null ? null : "0x" + Long.toHexString(features));
        m.put("detail", d.detail());
        return m;
    }

    private Long features(DeviceInfo d) {
        if (d.status() != DeviceInfo.Status.BOUND) {
            return null;
        }
        try {
            Optional<BlockDevice> blk = registry.deviceApi(d.id(), BlockDevice.class);
            if (blk.isPresent()) {
                return blk.get().info().features();
            }
            Optional<NetDevice> net = registry.deviceApi(d.id(), NetDevice.class);
            return net.map(n -> n.info().features()).orElse(null);
        } catch (RuntimeException | LinkageError raced) {
            return null; // unbound meanwhile, or its device bundle left: no features to show
        }
    }

    private static Map<String, Object> endpoint(DeviceInfo d) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("backend", d.backendName());
        m.put("target", d.target());
        return m;
    }

    private static String id(Params p) throws RpcException {
        String id = p.string("id");
        if (!id.matches("[A-Za-z0-9_.-]{1,64}")) {
            throw p.invalid("parameter 'id' is '" + id + "': use 1..64 letters, digits, '_', '.' or '-'");
        }
        return id;
    }

    private DeviceInfo existing(String id) throws RpcException {
        return registry.device(id).orElseThrow(() -> new RpcException(RpcException.NOT_FOUND, "no device '" + id + "'"));
    }

    /** @return the device configuration of {@code id} (made here or from a conf/ file), if any */
    private Optional<Configuration> configuration(String id) throws Exception {
        Configuration[] all = cm.listConfigurations("(service.factoryPid=" + DeviceRegistry.DEVICE_FACTORY_PID + ")");
        if (all != null) {
            for (Configuration c : all) {
                String pid = c.getPid();
                int tilde = pid.lastIndexOf('~');
                if ((tilde >= 0 ? pid.substring(tilde + 1) : pid).equals(id)) {
                    return Optional.of(c);
                }
            }
        }
        return Optional.empty();
    }

    private DeviceInfo settle(String id, boolean fromFile) throws Exception {
        waitUntil(id, d -> d.status() != DeviceInfo.Status.WAITING);
        return registry.device(id).orElseThrow(() -> new RpcException(RpcException.OPERATION_FAILED,
                "device '" + id + "': configuration " + (fromFile ? "file written" : "made") + ", but the registry made no device within "
                        + SETTLE_MS + " ms (" + (fromFile ? "is FileInstall watching " + confDir + "? " : "") + "is com.vhost.registry active?)"));
    }

    private void waitUntil(String id, java.util.function.Predicate<DeviceInfo> done) throws InterruptedException {
        long deadline = System.nanoTime() + SETTLE_MS * 1_000_000L;
        while (System.nanoTime() < deadline) {
            Optional<DeviceInfo> d = registry.device(id);
            if (d.isPresent() && done.test(d.get())) {
                return;
            }
            Thread.sleep(POLL_MS);
        }
    }
}
