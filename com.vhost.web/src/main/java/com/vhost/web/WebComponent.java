package com.vhost.web;

import com.vhost.api.daemon.DaemonView;
import com.vhost.api.daemon.ServedBackendInfo;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.DeviceRegistry;
import jakarta.servlet.Servlet;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Dictionary;
import java.util.Hashtable;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.apache.felix.webconsole.spi.SecurityProvider;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceRegistration;
import org.osgi.service.cm.Configuration;
import org.osgi.service.cm.ConfigurationAdmin;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.servlet.whiteboard.HttpWhiteboardConstants;
import org.osgi.service.servlet.whiteboard.Preprocessor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The web side of {@code vhost daemon --http}, present only while the configuration {@value #PID}
 * exists (the daemon command creates it): registers the password check ({@link WebAuth}) as the
 * web console's security provider and, with a password, as a whiteboard preprocessor of every
 * path; the console page {@code /system/console/vhost}; {@code /metrics}; a health check per device
 * and per served back-end, kept in step every {@value #SYNC_MS} ms; and the configuration of
 * Felix's health servlet at {@code /system/health} (JSON, tag {@value HealthChecks#TAG}). Then it
 * registers a status service with {@value #STATE_PROPERTY} = {@code ready} or {@code failed} and
 * {@value #ERROR_PROPERTY}, which the daemon command waits for.
 *
 * <p>Configuration: {@value #USER} (default {@code admin}) and {@value #PASSWORD_FILE} (a file whose
 * first line is the password; none: every page is open, which the daemon command allows on
 * loopback addresses only).
 */
@Component(configurationPid = WebComponent.PID, configurationPolicy = ConfigurationPolicy.REQUIRE, immediate = true, service = {})
public final class WebComponent {
    private static final Logger LOG = LoggerFactory.getLogger(WebComponent.class);
    /** Configuration PID that activates the web side. */
    public static final String PID = "com.vhost.web";
    /** Configuration property: the user name of the password check. */
    public static final String USER = "user";
    /** Configuration property: the file holding the password (first line). */
    public static final String PASSWORD_FILE = "password.file";
    /** Status property: {@code ready} or {@code failed}. */
    public static final String STATE_PROPERTY = "vhost.web.state";
    /** Status property: why the web side could not start. */
    public static final String ERROR_PROPERTY = "vhost.web.error";
    /** Factory PID of Felix's health check servlet. */
    static final String HC_SERVLET_PID = "org.apache.felix.hc.core.impl.servlet.HealthCheckExecutorServlet";
    /** Path of the health servlet. */
    static final String HEALTH_PATH = "/system/health";
    /** Interval of the health check and meter sync, in milliseconds. */
    static final long SYNC_MS = 500;

    @Reference
    private DaemonView view;

    @Reference
    private DeviceRegistry registry;

    @Reference
    private ConfigurationAdmin configurationAdmin;

    private final List<ServiceRegistration<?>> registrations = new ArrayList<>();
    private ServiceRegistration<?> status;
    private Configuration healthServlet;
    private ScheduledExecutorService syncer;
    private HealthChecks checks;
    private VhostMeters meters;

    @Activate
    void activate(BundleContext context, Map<String, Object> config) {
        Hashtable<String, Object> props = new Hashtable<>();
        try {
            BasicAuth basic = auth(config);
            WebAuth auth = new WebAuth(basic);
            Hashtable<String, Object> sp = new Hashtable<>();
            sp.put(SecurityProvider.PROPERTY_ID, WebAuth.PROVIDER_ID);
            registrations.add(context.registerService(SecurityProvider.class, auth, sp));
            if (basic.required()) {
                registrations.add(context.registerService(Preprocessor.class, auth, new Hashtable<>()));
            }
            Hashtable<String, Object> pp = new Hashtable<>();
            pp.put("felix.webconsole.label", VhostConsolePlugin.LABEL);
            pp.put("felix.webconsole.title", "vhost");
            pp.put("felix.webconsole.category", "vhost");
            registrations.add(context.registerService(Servlet.class, new VhostConsolePlugin(view, registry), pp));
            meters = new VhostMeters();
            checks = new HealthChecks(context, view);
            Hashtable<String, Object> mp = new Hashtable<>();
            mp.put(HttpWhiteboardConstants.HTTP_WHITEBOARD_SERVLET_PATTERN, "/metrics");
            mp.put(HttpWhiteboardConstants.HTTP_WHITEBOARD_SERVLET_NAME, "vhost-metrics");
            registrations.add(context.registerService(Servlet.class, new MetricsServlet(meters, this::syncMeters), mp));
            healthServlet = configurationAdmin.getFactoryConfiguration(HC_SERVLET_PID, "vhost", "?");
            Dictionary<String, Object> hc = new Hashtable<>();
            hc.put("servletPath", HEALTH_PATH);
            hc.put("format", "json");
            hc.put("tags", new String[] {HealthChecks.TAG});
            hc.put("cors.accessControlAllowOrigin", "");
            healthServlet.update(hc);
            sync();
            syncer = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "vhost-web-sync");
                t.setDaemon(true);
                return t;
            });
            syncer.scheduleWithFixedDelay(this::sync, SYNC_MS, SYNC_MS, TimeUnit.MILLISECONDS);
            props.put(STATE_PROPERTY, "ready");
            LOG.info("web: console plugin /system/console/{}, /metrics, {}{}", VhostConsolePlugin.LABEL, HEALTH_PATH,
                    basic.required() ? " (user " + basic.user() + " and password required)" : " (open: no password file)");
        } catch (Exception e) {
            String why = e.getMessage() == null ? e.toString() : e.getMessage();
            props.put(STATE_PROPERTY, "failed");
            props.put(ERROR_PROPERTY, why);
            LOG.error("web: {}", why);
        }
        status = context.registerService(Object.class.getName(), new Object(), props);
    }

    /** @return the password check the configuration asks for */
    static BasicAuth auth(Map<String, Object> config) throws IOException {
        Object file = config.get(PASSWORD_FILE);
        if (file == null || file.toString().isBlank()) {
            return BasicAuth.open();
        }
        Object user = config.get(USER);
        List<String> lines = Files.readAllLines(Path.of(file.toString()), StandardCharsets.UTF_8);
        if (lines.isEmpty() || lines.get(0).isEmpty()) {
            throw new IllegalArgumentException("password file " + file + " is empty: its first line is the password");
        }
        return BasicAuth.of(user == null ? "admin" : user.toString(), lines.get(0));
    }

    /** Keeps one health check per device and served back-end, and the meters, in step. */
    private void sync() {
        try {
            List<DeviceInfo> devices = registry.devices();
            List<ServedBackendInfo> served = view.servedBackends();
            Set<String> ids = new TreeSet<>();
            devices.forEach(d -> ids.add(d.id()));
            Set<String> names = new TreeSet<>();
            served.forEach(s -> names.add(s.name()));
            synchronized (this) {
                if (checks != null) {
                    checks.sync(ids, names);
                }
            }
            meters.sync(devices, registry::counters, served);
        } catch (RuntimeException e) {
            LOG.warn("web: health check and meter sync: {}", e.toString());
        }
    }

    private void syncMeters() {
        meters.sync(registry.devices(), registry::counters, view.servedBackends());
    }

    @Deactivate
    void deactivate() {
        if (syncer != null) {
            syncer.shutdownNow();
            try {
                syncer.awaitTermination(2, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (ServiceRegistration<?> r : registrations) {
            unregister(r);
        }
        registrations.clear();
        synchronized (this) {
            if (checks != null) {
                checks.close();
                checks = null;
            }
        }
        if (healthServlet != null) {
            try {
                healthServlet.delete();
            } catch (IOException | IllegalStateException e) {
                LOG.debug("web: deleting the health servlet's configuration: {}", e.toString());
            }
        }
        if (status != null) {
            unregister(status);
        }
    }

    private static void unregister(ServiceRegistration<?> r) {
        try {
            r.unregister();
        } catch (IllegalStateException gone) {
            // the framework is stopping
        }
    }
}
