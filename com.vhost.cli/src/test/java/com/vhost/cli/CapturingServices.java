package com.vhost.cli;

import com.vhost.api.VhostOps;
import com.vhost.api.registry.DeviceRegistry;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import org.osgi.service.cm.ConfigurationAdmin;

/**
 * {@link CliServices} for unit tests: standard output and error are captured in {@link #outText}
 * and {@link #errText}; every service a test does not override fails with an
 * {@link IllegalStateException} naming it (no registry, Configuration Admin, back-ends, blk tools,
 * shell or framework in unit tests).
 */
abstract class CapturingServices implements CliServices {
    final StringWriter outText = new StringWriter();
    final StringWriter errText = new StringWriter();
    private final PrintWriter out = new PrintWriter(outText, true);
    private final PrintWriter err = new PrintWriter(errText, true);

    @Override
    public DeviceRegistry registry() {
        throw new IllegalStateException("no registry in this test");
    }

    @Override
    public ConfigurationAdmin configurationAdmin() {
        throw new IllegalStateException("no Configuration Admin in this test");
    }

    @Override
    public VhostOps backend(String type, Duration wait) {
        throw new IllegalStateException("no " + type + " backend in this test");
    }

    @Override
    public BlkTools blkTools() {
        throw new IllegalStateException("no blk tools in this test");
    }

    @Override
    public void interactiveShell() {
        throw new IllegalStateException("no shell in unit tests");
    }

    @Override
    public void awaitShutdown() {
        throw new IllegalStateException("no framework in unit tests");
    }

    @Override
    public PrintWriter out() {
        return out;
    }

    @Override
    public PrintWriter err() {
        return err;
    }
}
