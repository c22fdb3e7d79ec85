package com.vhost.daemon;

import com.vhost.api.backend.BackendServer;
import com.vhost.api.backend.DeviceModel;
import com.vhost.api.backend.DeviceModelFactory;
import com.vhost.api.backend.ModelHandover;
import com.vhost.api.backend.ServedBackend;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.daemon.rpc.Params;
import com.vhost.daemon.rpc.RpcException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.jar.Attributes;
import java.util.jar.JarFile;
import java.util.function.Supplier;
import java.util.jar.Manifest;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.BundleException;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.framework.ServiceReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code bundle_update {symbolic_name, path}}: installs a new build of a bundle in the running
 * platform, and for a device bundle keeps every back-end it serves running under its front-end
 * (issue #11 item 5, a live upgrade of the device model). The bundle is stopped (its served models
 * still run), each served model of its device types is handed over ({@link ModelHandover}:
 * asleep, snapshotted, closed), the bundle is updated (the framework drops the old revision's
 * classes) and started, and a model made by the new revision's {@link DeviceModelFactory} from
 * the same configuration restores the snapshot and wakes with the same rings (crosvm's life
 * cycle: sleep, snapshot, restore, wake). The front-end sees a pause, no reset, no reconnect.
 *
 * <p>Snapshot formats are declared in the bundle manifests: {@value #WRITES} lists the formats
 * the bundle's models write ({@code blk.model:1}), {@value #READS} those its models restore. The
 * update is refused before anything changes, and the old model keeps serving, when the new build
 * does not read every format the running one writes, when a served back-end keeps its disk in
 * memory (the data lives in the model), or when the file is not a build of that bundle. When a new
 * model refuses the snapshot all the same, a model of whatever revision the bundle then has is
 * tried; a back-end no model takes over is stopped (its front-end sees DEVICE_NEEDS_RESET and a
 * disconnect), and the result says so.
 */
final class BundleUpdates {
    private static final Logger LOG = LoggerFactory.getLogger(BundleUpdates.class);
    /** Manifest header: the snapshot formats the bundle's device models write, {@code name:version, ...}. */
    static final String WRITES = "Vhost-Snapshot-Writes";
    /** Manifest header: the snapshot formats the bundle's device models restore, {@code name:version, ...}. */
    static final String READS = "Vhost-Snapshot-Reads";
    /** Longest wait for the session a handover waits on, and for the new revision's factory, in ms. */
    static final long WAIT_MS = 10_000;

    private final BundleContext context;
    private final Supplier<BackendServer> server;
    private final ServedBackends named;

    /**
     * @param context the daemon bundle's context (bundles, services)
     * @param server the back-end server, whose {@link BackendServer#served()} are the back-ends
     *     an update hands over (the daemon's, and those of {@code vhost run} or {@code vhost serve}
     *     in their process), or null when none
     * @param named the daemon's named back-ends, for the result (null: none)
     */
    BundleUpdates(BundleContext context, Supplier<BackendServer> server, ServedBackends named) {
        this.context = context;
        this.server = server;
        this.named = named;
    }

    /**
     * {@code bundle_update {symbolic_name, path}} → {symbolic_name, from, to, update_ms, backends:
     * [{name, session, pause_ms, result}]}: {@code update_ms} from stopping the bundle to its new
     * revision started, {@code pause_ms} each back-end's pause (its model asleep to the new one
     * running), {@code result} {@code upgraded} or {@code stopped: why}.
     */
    Object update(Params p) throws Exception {
        p.allowOnly("symbolic_name", "path");
        return update(p.string("symbolic_name"), Path.of(p.string("path")));
    }

    /**
     * Updates bundle {@code bsn} from {@code jar} as {@link #update(Params)} describes.
     *
     * @return {symbolic_name, from, to, update_ms, backends: [{name, socket, session, pause_ms, result}]}
     * @throws RpcException {@link RpcException#INVALID_PARAMS} when {@code jar} is not a build of
     *     {@code bsn}, {@link RpcException#NOT_FOUND} when no such bundle is installed,
     *     {@link RpcException#OPERATION_FAILED} when the update is refused (nothing changed) or
     *     failed (the message says what state it left)
     */
    Map<String, Object> update(String bsn, Path jar) throws Exception {
        Manifest mf = manifest(jar);
        String newBsn = symbolicName(mf.getMainAttributes().getValue("Bundle-SymbolicName"));
        if (!bsn.equals(newBsn)) {
            throw invalid("parameter 'path': " + jar + " is a build of '" + (newBsn == null ? "no bundle" : newBsn) + "', not of '" + bsn + "'");
        }
        Bundle bundle = installed(bsn);
        String from = bundle.getVersion().toString();
        String to = mf.getMainAttributes().getValue("Bundle-Version");
        Set<String> types = deviceTypes(bundle);
        List<ServedBackend> entries = new ArrayList<>();
        BackendServer bs = server.get();
        for (ServedBackend e : bs == null ? List.<ServedBackend>of() : bs.served()) {
            if (types.contains(type(e))) {
                entries.add(e);
            }
        }
        if (!entries.isEmpty()) {
            checkFormats(bundle, mf, from, to);
            for (ServedBackend e : entries) {
                Map<String, Object> cfg = e.model().configuration();
                String why = cfg.isEmpty() ? "was not made by a device model factory (no configuration to make its successor from)"
                        : cfg.containsKey(DeviceConfigKeys.MEMORY_SIZE) ? "keeps its disk in memory, which would be lost with its model"
                        : cfg.containsKey(DeviceConfigKeys.TAP) ? "owns TAP interface " + cfg.get(DeviceConfigKeys.TAP)
                                + ", which would be re-created without its links and addresses"
                        : null;
                if (why != null) {
                    throw new RpcException(RpcException.OPERATION_FAILED, "refused: served back-end " + name(e) + " " + why + "; "
                            + bsn + " " + from + " keeps serving");
                }
            }
        }
        // Stopped first, with every served model still running: what else uses the bundle's
        // services (the registry's drivers, which may be front-ends of these very back-ends) lets
        // go of them while the back-ends still answer. The old revision's classes stay valid until
        // the update refreshes the bundle.
        boolean wasActive = bundle.getState() == Bundle.ACTIVE || bundle.getState() == Bundle.STARTING;
        long t0 = System.nanoTime();
        if (wasActive) {
            bundle.stop();
        }
        List<ModelHandover> handovers = new ArrayList<>();
        try {
            for (ServedBackend e : entries) {
                handovers.add(e.handOver(WAIT_MS));
            }
        } catch (Exception e) {
            handovers.forEach(ModelHandover::close); // the old models wake and serve on
            if (wasActive) {
                bundle.start();
            }
            throw new RpcException(RpcException.OPERATION_FAILED, "refused: a served back-end could not be put to sleep: " + e.getMessage()
                    + "; " + bsn + " " + from + " keeps serving");
        }
        handovers.forEach(ModelHandover::releaseModel); // before the update drops the old revision's classes
        String updateError = null;
        try (InputStream in = Files.newInputStream(jar)) {
            bundle.update(in);
        } catch (BundleException | IOException | IllegalStateException e) {
            updateError = e.getMessage();
            LOG.error("bundle_update {}: the update failed: {}", bsn, updateError);
        }
        if (wasActive) {
            try {
                bundle.start(); // the new revision, or the old one after a failed update
            } catch (BundleException | IllegalStateException e) {
                updateError = (updateError == null ? "" : updateError + "; ") + "starting it failed: " + e.getMessage();
                LOG.error("bundle_update {}: starting the bundle failed: {}", bsn, e.getMessage());
            }
        }
        double updateMs = (System.nanoTime() - t0) / 1e6;
        List<Object> results = new ArrayList<>();
        for (int i = 0; i < entries.size(); i++) {
            results.add(takeOver(bundle, entries.get(i), handovers.get(i)));
        }
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("symbolic_name", bsn);
        r.put("from", from);
        r.put("to", bundle.getVersion().toString());
        r.put("update_ms", updateMs);
        r.put("backends", results);
        if (updateError != null) {
            r.put("error", updateError);
            throw new RpcException(RpcException.OPERATION_FAILED, "the update of " + bsn + " to " + to + " failed: " + updateError
                    + "; it is at " + bundle.getVersion() + ", served back-ends: " + results);
        }
        LOG.info("bundle_update {}: {} -> {} in {} ms; back-ends: {}", bsn, from, bundle.getVersion(), String.format("%.1f", updateMs), results);
        return r;
    }

    /** Hands one back-end over to a model of the bundle's current revision; stops it when none takes over. */
    private Map<String, Object> takeOver(Bundle bundle, ServedBackend e, ModelHandover h) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", daemonName(e));
        m.put("socket", e.socket().toString());
        m.put("session", h.sessionConnected());
        String why;
        String type = type(e);
        Map<String, Object> config = h.model().configuration();
        DeviceModelFactory f = awaitFactory(bundle, type);
        if (f == null) {
            why = "no " + type + " model factory from " + bundle.getSymbolicName() + " within " + WAIT_MS + " ms (state "
                    + bundle.getState() + ")";
        } else {
            DeviceModel next = null;
            try {
                next = f.create(config);
                long pauseNs = h.complete(next);
                m.put("pause_ms", pauseNs / 1e6);
                m.put("result", "upgraded");
                return m;
            } catch (Exception | LinkageError x) {
                if (next != null) {
                    next.close();
                }
                why = "the new model refused to take over: " + x.getMessage();
            }
        }
        LOG.error("bundle_update: served back-end {} stops: {}", name(e), why);
        h.close(); // the old model was released: the session ends with DEVICE_NEEDS_RESET, the back-end stops
        if (named != null) {
            named.forget(e);
        }
        m.put("pause_ms", null);
        m.put("result", "stopped: " + why);
        return m;
    }

    private DeviceModelFactory awaitFactory(Bundle bundle, String type) {
        long deadline = System.nanoTime() + WAIT_MS * 1_000_000L;
        do {
            try {
                Collection<ServiceReference<DeviceModelFactory>> refs = context.getServiceReferences(DeviceModelFactory.class,
                        "(" + DeviceModelFactory.DEVICE_TYPE + "=" + type + ")");
                for (ServiceReference<DeviceModelFactory> ref : refs) {
                    if (ref.getBundle() != null && ref.getBundle().getBundleId() == bundle.getBundleId()) {
                        DeviceModelFactory f = context.getService(ref);
                        if (f != null) {
                            return f;
                        }
                    }
                }
                Thread.sleep(10);
            } catch (InvalidSyntaxException | IllegalStateException e) {
                return null;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return null;
            }
        } while (System.nanoTime() < deadline);
        return null;
    }

    private static String type(ServedBackend e) {
        return e.model().device().deviceType().shortName();
    }

    /** @return the daemon's name of a served back-end in quotes, else "on SOCKET" */
    private String name(ServedBackend e) {
        String n = daemonName(e);
        return n != null ? "'" + n + "'" : "on " + e.socket();
    }

    /** @return the daemon's name of a served back-end, or null (served by another command) */
    private String daemonName(ServedBackend e) {
        if (named != null) {
            for (ServedBackends.Entry n : named.list()) {
                if (n.served() == e) {
                    return n.name();
                }
            }
        }
        return null;
    }

    /** Refuses unless the new build reads every snapshot format the running one writes. */
    private static void checkFormats(Bundle bundle, Manifest mf, String from, String to) throws RpcException {
        Set<String> writes = formats(bundle.getHeaders().get(WRITES));
        Set<String> reads = formats(mf.getMainAttributes().getValue(READS));
        Set<String> unread = new LinkedHashSet<>(writes);
        unread.removeAll(reads);
        if (writes.isEmpty() || !unread.isEmpty()) {
            throw new RpcException(RpcException.OPERATION_FAILED, "refused: " + bundle.getSymbolicName() + " " + from + " writes device snapshots "
                    + (writes.isEmpty() ? "in no declared format (no " + WRITES + " header)" : String.join(", ", writes))
                    + ", the new build " + to + " reads " + (reads.isEmpty() ? "none (no " + READS + " header)" : String.join(", ", reads))
                    + "; " + from + " keeps serving");
        }
    }

    static Set<String> formats(String header) {
        Set<String> s = new LinkedHashSet<>();
        if (header != null) {
            for (String f : header.split(",")) {
                if (!f.isBlank()) {
                    s.add(f.strip());
                }
            }
        }
        return s;
    }

    private static Manifest manifest(Path jar) throws RpcException {
        if (!Files.isRegularFile(jar)) {
            throw invalid("parameter 'path': " + jar + " is not a file");
        }
        try (JarFile j = new JarFile(jar.toFile())) {
            Manifest mf = j.getManifest();
            if (mf == null) {
                throw invalid("parameter 'path': " + jar + " has no META-INF/MANIFEST.MF");
            }
            return mf;
        } catch (IOException e) {
            throw invalid("parameter 'path': " + jar + " is not a readable jar: " + e.getMessage());
        }
    }

    private static RpcException invalid(String message) {
        return new RpcException(RpcException.INVALID_PARAMS, message);
    }

    private static String symbolicName(String header) {
        if (header == null) {
            return null;
        }
        int semi = header.indexOf(';');
        return (semi < 0 ? header : header.substring(0, semi)).strip();
    }

    private Bundle installed(String bsn) throws RpcException {
        Bundle found = null;
        for (Bundle b : context.getBundles()) {
            if (bsn.equals(b.getSymbolicName())) {
                if (found != null) {
                    throw new RpcException(RpcException.OPERATION_FAILED, "bundle '" + bsn + "' is installed twice (ids " + found.getBundleId()
                            + " and " + b.getBundleId() + "); update one by hand");
                }
                found = b;
            }
        }
        if (found == null) {
            throw new RpcException(RpcException.NOT_FOUND, "no bundle '" + bsn + "' is installed");
        }
        if (found.getBundleId() == context.getBundle().getBundleId()) {
            throw new RpcException(RpcException.OPERATION_FAILED, "bundle '" + bsn + "' is the control socket's own; it cannot update itself");
        }
        return found;
    }

    /** @return the device types of the model factories the bundle registers */
    private Set<String> deviceTypes(Bundle bundle) {
        Set<String> types = new LinkedHashSet<>();
        ServiceReference<?>[] refs = bundle.getRegisteredServices();
        if (refs != null) {
            for (ServiceReference<?> r : refs) {
                Object type = r.getProperty(DeviceModelFactory.DEVICE_TYPE);
                String[] classes = (String[]) r.getProperty("objectClass");
                if (type != null && classes != null && List.of(classes).contains(DeviceModelFactory.class.getName())) {
                    types.add(type.toString());
                }
            }
        }
        return types;
    }
}
