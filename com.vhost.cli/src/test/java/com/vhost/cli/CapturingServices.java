package com.vhost.cli;

import com.vhost.api.VhostOps;
import com.vhost.api.backend.BackendServer;
import com.vhost.api.backend.DeviceModelFactory;
import com.vhost.api.registry.DeviceRegistry;
import com.vhost.api.registry.VirtioDriverFactory;
import com.vhost.devices.blk.driver.BlkDriverFactory;
import com.vhost.devices.blk.model.BlkModelFactory;
import com.vhost.devices.net.driver.NetDriverFactory;
import com.vhost.devices.net.model.NetModelFactory;
import com.vhost.user.backend.VhostUserBackendServer;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import org.osgi.service.cm.ConfigurationAdmin;

/**
 * {@link CliServices} for unit tests: standard output and error are captured in {@link #outText}
 * and {@link #errText}; every service a test does not override fails with an
 * {@link IllegalStateException} naming it (no registry, Configuration Admin, back-ends, shell or
 * framework in unit tests); the implementation services are made from their classes.
 */
abstract class CapturingServices implements CliServices {
    final StringWriter outText = new StringWriter();
    final StringWriter errText = new StringWriter();
    private final PrintWriter out = new PrintWriter(outText, true);
    private final PrintWriter err = new PrintWriter(errText, true);
    /** What {@link #terminal()} answers: false (progress as lines) unless a test sets it. */
    boolean terminal;

    @Override
    public boolean terminal() {
        return terminal;
    }

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

    /** The folders the command asked FileInstall to watch, in call order (conf, deploy, ...). */
    final java.util.List<java.nio.file.Path> watchedFolders = new java.util.ArrayList<>();

    @Override
    public void watchFolders(java.nio.file.Path conf, java.nio.file.Path deploy) {
        watchedFolders.add(conf);
        watchedFolders.add(deploy);
    }

    @Override
    public java.util.Map<String, Object> awaitControlStatus(java.nio.file.Path control, long waitMs) {
        throw new IllegalStateException("no daemon control component in this test");
    }

    /** The start levels the command asked for, in call order. */
    final java.util.List<Integer> startLevels = new java.util.ArrayList<>();

    @Override
    public void raiseStartLevel(int level, long waitMs) {
        startLevels.add(level);
    }

    @Override
    public java.util.List<String> installWebBundles(int startLevel) {
        throw new IllegalStateException("no framework to install bundles into in this test");
    }

    @Override
    public java.util.Map<String, Object> awaitService(String filter, long waitMs) {
        throw new IllegalStateException("no framework services in this test: " + filter);
    }

    private BlkTools blkTools;
    private NetTools netTools;

    /**
     * The implementation bundles' services, made from their classes (no framework in unit tests):
     * the blk and net model and driver factories and the vhost-user back-end server.
     */
    @Override
    public <T> T service(Class<T> type, String filter, String what, String bundle) {
        String deviceType = filter != null && filter.contains("=net") ? "net" : "blk";
        Object s;
        if (type == DeviceModelFactory.class) {
            s = deviceType.equals("net") ? new NetModelFactory() : new BlkModelFactory();
        } else if (type == VirtioDriverFactory.class) {
            s = deviceType.equals("net") ? new NetDriverFactory() : new BlkDriverFactory();
        } else if (type == BackendServer.class) {
            s = new VhostUserBackendServer();
        } else {
            throw new IllegalStateException("no " + what + " in this test");
        }
        return type.cast(s);
    }

    @Override
    public synchronized BlkTools blkTools() {
        if (blkTools == null) {
            blkTools = new ServiceBlkTools(this);
        }
        return blkTools;
    }

    @Override
    public synchronized NetTools netTools() {
        if (netTools == null) {
            netTools = new ServiceNetTools(this);
        }
        return netTools;
    }

    @Override
    public int interactiveShell() {
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

    /**
     * Waits (at most 30 s) until standard error contains {@code text} or {@code command} ended:
     * e.g. a workload's first progress line, so a back-end is killed only once the driver is up.
     */
    void awaitErr(String text, java.util.concurrent.Future<?> command) throws InterruptedException {
        long until = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
        while (!errText.toString().contains(text) && !command.isDone() && System.nanoTime() < until) {
            Thread.sleep(20);
        }
    }

    /** @return services whose only back-end is the vhost-user one ({@code VhostUserOps}), as {@code vhost serve}'s peers use */
    static CapturingServices overVhostUser() {
        return new CapturingServices() {
            @Override
            public com.vhost.api.VhostOps backend(String type, java.time.Duration wait) {
                org.assertj.core.api.Assertions.assertThat(type).isEqualTo("user");
                return new com.vhost.user.VhostUserOps();
            }
        };
    }

    /** @return the last line of {@code text} (a command's summary line) */
    static String lastLine(String text) {
        java.util.List<String> lines = text.lines().toList();
        return lines.get(lines.size() - 1);
    }
}
