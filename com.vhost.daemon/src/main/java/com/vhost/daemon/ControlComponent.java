package com.vhost.daemon;

import com.vhost.api.backend.BackendServer;
import com.vhost.api.backend.DeviceModelFactory;
import com.vhost.api.daemon.DaemonView;
import com.vhost.api.registry.DeviceRegistry;
import com.vhost.daemon.rpc.ControlServer;
import com.vhost.daemon.rpc.JsonRpc;
import com.vhost.spi.nativeio.UnixServer;
import java.nio.file.Path;
import java.util.Hashtable;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceRegistration;
import org.osgi.service.cm.ConfigurationAdmin;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The daemon's control socket: exists only while the configuration {@value #PID} does (which
 * {@code vhost daemon} creates, with {@value #PATH_PROPERTY} = the socket path), so no other
 * command opens one. On activation it listens (the {@link UnixServer} rules: mode 0600, a live
 * server's socket refused, a stale one replaced) and serves JSON-RPC 2.0 ({@link ControlServer},
 * {@link PlatformMethods}); then it registers a status service (objectClass
 * {@code java.lang.Object}) with {@value #STATE_PROPERTY} = {@code listening} or {@code failed},
 * {@value #PATH_PROPERTY} and, when failed, {@value #ERROR_PROPERTY} (the reason), which the
 * daemon command waits for, and, while listening, the {@link DaemonView} service (served back-ends,
 * health, swap) that the web bundle of {@code vhost daemon --http} uses. On deactivation it closes the socket (removing its file) and stops
 * every back-end it served.
 */
@Component(configurationPid = ControlComponent.PID, configurationPolicy = ConfigurationPolicy.REQUIRE, immediate = true, service = {})
public final class ControlComponent {
    private static final Logger LOG = LoggerFactory.getLogger(ControlComponent.class);
    /** Configuration PID that activates the control socket. */
    public static final String PID = "com.vhost.daemon.control";
    /** Configuration and status property: the control socket's path. */
    public static final String PATH_PROPERTY = "vhost.control.path";
    /** Status property: {@code listening} or {@code failed}. */
    public static final String STATE_PROPERTY = "vhost.control.state";
    /** Status property: why the socket could not be opened. */
    public static final String ERROR_PROPERTY = "vhost.control.error";

    @Reference
    private DeviceRegistry registry;

    @Reference
    private ConfigurationAdmin configurationAdmin;

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC)
    private volatile BackendServer server;

    private final Map<String, DeviceModelFactory> factories = new ConcurrentHashMap<>();
    private ServedBackends served;
    private ControlServer control;
    private ServiceRegistration<?> status;
    private ServiceRegistration<DaemonView> view;

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC)
    void addFactory(DeviceModelFactory f) {
        factories.put(f.deviceType(), f);
    }

    void removeFactory(DeviceModelFactory f) {
        factories.remove(f.deviceType(), f);
    }

    @Activate
    void activate(BundleContext context, Map<String, Object> config) {
        Object p = config.get(PATH_PROPERTY);
        Hashtable<String, Object> props = new Hashtable<>();
        props.put(PATH_PROPERTY, p == null ? "" : p.toString());
        served = new ServedBackends(() -> server, factories::get);
        try {
            if (p == null || p.toString().isBlank()) {
                throw new IllegalArgumentException("configuration " + PID + " has no " + PATH_PROPERTY);
            }
            Path path = Path.of(p.toString());
            DeviceMethods devices = new DeviceMethods(registry, configurationAdmin, confDir(context));
            Health health = new Health(registry, served, context);
            BundleUpdates updates = new BundleUpdates(context, () -> server, served);
            JsonRpc rpc = new JsonRpc(new PlatformMethods(registry, served, devices, context, health, updates).methods());
            control = new ControlServer(UnixServer.listen(path), rpc);
            view = context.registerService(DaemonView.class, new DaemonViewService(served, health, devices), null);
            props.put(STATE_PROPERTY, "listening");
            LOG.info("control socket {} listening (JSON-RPC 2.0, one request per line)", path);
        } catch (Exception e) {
            String why = e.getMessage() == null ? e.toString() : e.getMessage();
            props.put(STATE_PROPERTY, "failed");
            props.put(ERROR_PROPERTY, why);
            LOG.error("control socket {}: {}", p, why);
        }
        status = context.registerService(Object.class.getName(), new Object(), props);
    }

    /**
     * @return the configuration folder FileInstall watches (the first of {@code felix.fileinstall.dir},
     *     which {@code vhost daemon} sets to its {@code --conf}), or null when none is watched
     */
    static Path confDir(BundleContext context) {
        String dirs = context.getProperty("felix.fileinstall.dir");
        if (dirs == null || dirs.isBlank()) {
            return null;
        }
        Path dir = Path.of(dirs.split(",")[0].strip());
        return java.nio.file.Files.isDirectory(dir) ? dir : null;
    }

    @Deactivate
    void deactivate() {
        if (view != null) {
            try {
                view.unregister();
            } catch (IllegalStateException gone) {
                // the framework is stopping
            }
        }
        if (status != null) {
            try {
                status.unregister();
            } catch (IllegalStateException gone) {
                // the framework is stopping
            }
        }
        if (control != null) {
            control.close();
        }
        served.close();
    }
}
