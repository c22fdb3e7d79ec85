package com.vhost.web;

import com.vhost.api.daemon.DaemonView;
import com.vhost.api.daemon.HealthResult;
import com.vhost.api.daemon.ServedBackendInfo;
import com.vhost.api.registry.BackendInfo;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.DeviceRegistry;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import org.apache.felix.webconsole.servlet.AbstractServlet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The web console page {@code /system/console/vhost}: the devices (status, back-end, target, the
 * served back-end on that target, health, counters) each with a swap form, the served back-ends (sessions, counters) and the
 * VhostOps services. The form POSTs {@code id}, {@code target} (a served back-end's socket, or
 * {@code other} for the typed path or VhostOps name) and {@code token}; the swap goes through
 * {@link DaemonView#swap} (the code of {@code device_swap}) and the page is shown again with the
 * result. The token (random per activation) keeps other sites' pages from posting swaps.
 */
final class VhostConsolePlugin extends AbstractServlet {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(VhostConsolePlugin.class);
    /** The page's label: {@code /system/console/vhost}. */
    static final String LABEL = "vhost";

    private final transient DaemonView view;
    private final transient DeviceRegistry registry;
    private final String token;

    VhostConsolePlugin(DaemonView view, DeviceRegistry registry) {
        this.view = view;
        this.registry = registry;
        byte[] t = new byte[16];
        new SecureRandom().nextBytes(t);
        this.token = HexFormat.of().formatHex(t);
    }

    @Override
    public void renderContent(HttpServletRequest req, HttpServletResponse res) throws IOException {
        PrintWriter w = res.getWriter();
        String result = req.getParameter("result");
        if (result != null) {
            String cls = "ok".equals(req.getParameter("outcome")) ? "vhost-ok" : "vhost-error";
            w.println("<p id='vhost-result' class='statline " + cls + "'>" + esc(result) + "</p>");
        }
        devices(w);
        served(w);
        vhostOps(w);
    }

    private void devices(PrintWriter w) {
        w.println("<h2>Devices</h2>");
        w.println("<table id='vhost-devices' class='tablelayout nicetable'><thead><tr><th>id</th><th>type</th><th>status</th>"
                + "<th>backend</th><th>target</th><th>served by</th><th>health</th><th>requests</th><th>bytes</th><th>errors</th><th>swaps</th>"
                + "<th>last pause</th><th>swap to</th></tr></thead><tbody>");
        List<ServedBackendInfo> served = view.servedBackends();
        for (DeviceInfo d : registry.devices()) {
            Map<String, Long> c = registry.counters(d.id());
            String servedBy = served.stream().filter(s -> s.socket().equals(d.target())).map(ServedBackendInfo::name).findFirst().orElse("");
            String health = view.deviceHealth(d.id()).map(h -> h.status() + ": " + h.message()).orElse("");
            long pauseUs = c.getOrDefault("last.pause.us", -1L) >= 0 ? c.get("last.pause.us") : c.getOrDefault("last.switch.us", -1L);
            w.println("<tr id='device-" + esc(d.id()) + "'><td class='id'>" + esc(d.id()) + "</td><td>" + esc(d.deviceType())
                    + "</td><td class='status'>" + d.status() + "</td><td class='backend'>" + esc(String.valueOf(d.backendName()))
                    + "</td><td class='target'>" + esc(d.target()) + "</td><td class='served-by'>" + esc(servedBy) + "</td><td class='health' title='" + esc(health) + "'>"
                    + esc(health.isEmpty() ? "" : health.substring(0, health.indexOf(':'))) + "</td><td class='requests'>"
                    + c.getOrDefault("requests", 0L) + "</td><td class='bytes'>" + c.getOrDefault("bytes", 0L) + "</td><td class='errors'>"
                    + (c.getOrDefault("errors", 0L) + c.getOrDefault("drops", 0L)) + "</td><td class='swaps'>" + c.getOrDefault("swaps", 0L)
                    + "</td><td>" + (pauseUs < 0 ? "" : String.format("%.3f ms", pauseUs / 1000.0)) + "</td><td>" + swapForm(d, served) + "</td></tr>");
        }
        w.println("</tbody></table>");
    }

    private String swapForm(DeviceInfo d, List<ServedBackendInfo> served) {
        StringBuilder b = new StringBuilder();
        b.append("<form id='swap-").append(esc(d.id())).append("' method='post' action='").append(LABEL).append("'>")
                .append("<input type='hidden' name='id' value='").append(esc(d.id())).append("'>")
                .append("<input type='hidden' name='token' value='").append(token).append("'>")
                .append("<select name='target'>");
        for (ServedBackendInfo s : served) {
            if (s.type().equals(d.deviceType()) && !s.socket().equals(d.target())) {
                b.append("<option value='").append(esc(s.socket())).append("'>").append(esc(s.name())).append(" (").append(esc(s.socket()))
                        .append(")</option>");
            }
        }
        b.append("<option value='other'>other:</option></select> ")
                .append("<input type='text' name='other' size='24' placeholder='socket path or VhostOps name'> ")
                .append("<input type='submit' value='Swap'></form>");
        return b.toString();
    }

    private void served(PrintWriter w) {
        w.println("<h2>Served back-ends</h2>");
        w.println("<table id='vhost-served' class='tablelayout nicetable'><thead><tr><th>name</th><th>type</th><th>socket</th>"
                + "<th>sessions</th><th>health</th><th>model</th><th>counters</th></tr></thead><tbody>");
        for (ServedBackendInfo s : view.servedBackends()) {
            String health = view.servedHealth(s.name()).map(HealthResult::status).map(Enum::name).orElse("");
            StringBuilder counters = new StringBuilder();
            s.counters().forEach((k, v) -> {
                if (!k.startsWith("queue.")) {
                    counters.append(counters.isEmpty() ? "" : ", ").append(k).append(' ').append(v);
                }
            });
            w.println("<tr id='served-" + esc(s.name()) + "'><td>" + esc(s.name()) + "</td><td>" + esc(s.type()) + "</td><td>" + esc(s.socket())
                    + "</td><td class='sessions'>" + s.sessions() + "</td><td>" + health + "</td><td>" + esc(s.model()) + "</td><td>"
                    + esc(counters.toString()) + "</td></tr>");
        }
        w.println("</tbody></table>");
    }

    private void vhostOps(PrintWriter w) {
        w.println("<h2>VhostOps services</h2>");
        w.println("<table id='vhost-ops' class='tablelayout nicetable'><thead><tr><th>name</th><th>type</th><th>ranking</th><th>bundle</th>"
                + "<th>service id</th></tr></thead><tbody>");
        for (BackendInfo b : registry.backends()) {
            w.println("<tr><td>" + esc(b.name()) + "</td><td>" + esc(b.type().id()) + "</td><td>" + b.ranking() + "</td><td>" + esc(b.bundle())
                    + "</td><td>" + b.serviceId() + "</td></tr>");
        }
        w.println("</tbody></table>");
    }

    /** The swap form: checks the token, swaps through {@link DaemonView#swap}, shows the page again with the outcome. */
    @Override
    protected void doPost(HttpServletRequest req, HttpServletResponse res) throws IOException {
        String t = req.getParameter("token");
        if (t == null || !MessageDigest.isEqual(t.getBytes(StandardCharsets.US_ASCII), token.getBytes(StandardCharsets.US_ASCII))) {
            res.sendError(HttpServletResponse.SC_FORBIDDEN, "the form's token is missing or stale: reload the page");
            return;
        }
        String id = req.getParameter("id");
        String target = req.getParameter("target");
        if ("other".equals(target)) {
            target = req.getParameter("other");
        }
        String outcome = "error";
        String message;
        try {
            Map<String, Object> r = view.swap(id, target == null ? "" : target.trim(), null);
            Object pause = r.get("pause_ms");
            message = "device " + id + " swapped to " + target + (pause == null ? "" : ", pause " + pause + " ms");
            outcome = "ok";
        } catch (NoSuchElementException | IllegalArgumentException e) {
            message = "swap refused: " + e.getMessage();
        } catch (Exception e) {
            LOG.warn("web console swap of device {} to {}: {}", id, target, e.toString());
            message = "swap failed: " + (e.getMessage() == null ? e.toString() : e.getMessage());
        }
        res.sendRedirect(LABEL + "?outcome=" + outcome + "&result=" + URLEncoder.encode(message, StandardCharsets.UTF_8));
    }

    /** @return {@code s} safe in HTML text and single- or double-quoted attributes */
    static String esc(String s) {
        if (s == null) {
            return "";
        }
        StringBuilder b = new StringBuilder(s.length());
        for (char ch : s.toCharArray()) {
            switch (ch) {
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '&' -> b.append("&amp;");
                case '"' -> b.append("&quot;");
                case '\'' -> b.append("&#39;");
                default -> b.append(ch);
            }
        }
        return b.toString();
    }
}
