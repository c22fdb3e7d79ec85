package com.vhost.cli;

import java.nio.file.Path;
import java.util.Dictionary;
import java.util.Hashtable;
import java.util.Map;
import org.osgi.service.cm.Configuration;

/**
 * The {@code --http} part of {@code vhost daemon}: points Felix HTTP at the endpoint (framework
 * properties, read when the Jetty bundle starts), requires the {@code vhost} security provider in
 * the web console (no built-in admin/admin), creates the configuration {@value #WEB_PID} that
 * activates bundle {@code com.vhost.web}, installs the web bundles from platform/target/web.jar at
 * start level {@value #WEB_START_LEVEL} (no other command installs them, so they cost nothing at
 * start), raises the framework to that level and waits until the web side is ready and Jetty
 * listens.
 */
final class DaemonWeb {
    /** Configuration PID of com.vhost.web's component. */
    static final String WEB_PID = "com.vhost.web";
    /** Configuration PID of the web console's manager (its fallback user and password). */
    static final String CONSOLE_PID = "org.apache.felix.webconsole.internal.servlet.OsgiManager";
    /** Start level the web bundles are installed at. */
    static final int WEB_START_LEVEL = 30;
    /** How long the web side may take to start, in milliseconds. */
    static final long WEB_WAIT_MS = 20_000;
    static final String HTTP_RUNTIME_FILTER = "(&(objectClass=org.osgi.service.servlet.runtime.HttpServiceRuntime)(osgi.http.endpoint=*))";

    private final CliServices services;
    private final HttpEndpoint endpoint;
    private final Path passwordFile;
    private final String user;

    DaemonWeb(CliServices services, HttpEndpoint endpoint, Path passwordFile, String user) {
        this.services = services;
        this.endpoint = endpoint;
        this.passwordFile = passwordFile;
        this.user = user;
    }

    /**
     * Starts the web side and prints its URLs.
     *
     * @return false (with the reason printed) when it did not start in {@value #WEB_WAIT_MS} ms or failed
     */
    boolean start() throws Exception {
        System.setProperty("org.osgi.service.http.port", Integer.toString(endpoint.port()));
        System.setProperty("org.apache.felix.http.host", endpoint.host());
        System.setProperty("felix.webconsole.security.providers", "vhost");
        Configuration cfg = services.configurationAdmin().getConfiguration(WEB_PID, "?");
        Dictionary<String, Object> props = new Hashtable<>();
        props.put("user", user);
        if (passwordFile != null) {
            props.put("password.file", passwordFile.toAbsolutePath().toString());
        }
        cfg.update(props);
        // The console's own fallback check (admin/admin unless configured) must never let anyone
        // in, should it run before com.vhost.web's provider is registered: a random password.
        Configuration console = services.configurationAdmin().getConfiguration(CONSOLE_PID, "?");
        Dictionary<String, Object> cp = new Hashtable<>();
        byte[] random = new byte[24];
        new java.security.SecureRandom().nextBytes(random);
        cp.put("username", user);
        cp.put("password", java.util.HexFormat.of().formatHex(random));
        console.update(cp);
        services.installWebBundles(WEB_START_LEVEL);
        services.raiseStartLevel(WEB_START_LEVEL, WEB_WAIT_MS);
        Map<String, Object> status = services.awaitService("(vhost.web.state=*)", WEB_WAIT_MS);
        if (status == null) {
            services.err().println("vhost daemon: the web side did not start within " + WEB_WAIT_MS + " ms: is bundle com.vhost.web active?");
            return false;
        }
        if (!"ready".equals(status.get("vhost.web.state"))) {
            services.err().println("vhost daemon: --http: " + status.get("vhost.web.error"));
            return false;
        }
        Map<String, Object> runtime = services.awaitService(HTTP_RUNTIME_FILTER, WEB_WAIT_MS);
        if (runtime == null) {
            services.err().println("vhost daemon: --http " + endpoint.host() + ":" + endpoint.port() + ": the HTTP server did not start within "
                    + WEB_WAIT_MS + " ms (is the port in use? the log says why)");
            return false;
        }
        int port = actualPort(runtime.get("osgi.http.endpoint"), endpoint.port());
        String base = endpoint.url(port);
        services.out().println("vhost daemon: web console " + base + "/system/console/vhost, metrics " + base + "/metrics, health " + base
                + "/system/health " + (passwordFile != null ? "(user " + user + ", password from " + passwordFile + ")"
                        : "(open: loopback without --http-password-file)"));
        return true;
    }

    /** @return the port of the first {@code http://host:port/} endpoint, else {@code fallback} */
    static int actualPort(Object endpoints, int fallback) {
        Object first = endpoints instanceof String[] a && a.length > 0 ? a[0]
                : endpoints instanceof java.util.Collection<?> c && !c.isEmpty() ? c.iterator().next() : endpoints;
        if (first == null) {
            return fallback;
        }
        String url = first.toString();
        int end = url.indexOf('/', "http://".length());
        String authority = url.substring(url.indexOf("//") + 2, end < 0 ? url.length() : end);
        int colon = authority.lastIndexOf(':');
        try {
            return colon < 0 ? fallback : Integer.parseInt(authority.substring(colon + 1));
        } catch (NumberFormatException e) {
            return fallback;
        }
    }
}
