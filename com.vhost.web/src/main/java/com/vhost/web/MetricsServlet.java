package com.vhost.web;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/** {@code GET /metrics}: {@link VhostMeters} brought up to date, in the Prometheus text format. */
final class MetricsServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;

    /** Brings the meters up to date before a scrape. */
    private final transient Runnable sync;
    private final transient VhostMeters meters;

    MetricsServlet(VhostMeters meters, Runnable sync) {
        this.meters = meters;
        this.sync = sync;
    }

    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse res) throws IOException {
        sync.run();
        byte[] body = meters.scrape().getBytes(StandardCharsets.UTF_8);
        res.setContentType(VhostMeters.contentType());
        res.setContentLength(body.length);
        res.getOutputStream().write(body);
    }
}
