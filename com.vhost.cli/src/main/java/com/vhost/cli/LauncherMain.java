package com.vhost.cli;

import com.vhost.api.VhostOps;
import com.vhost.api.registry.DeviceRegistry;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.Charset;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.apache.felix.service.command.CommandProcessor;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.Filter;
import org.osgi.framework.FrameworkUtil;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.framework.ServiceReference;
import org.osgi.framework.launch.Framework;
import org.osgi.framework.startlevel.FrameworkStartLevel;
import org.osgi.service.cm.ConfigurationAdmin;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.util.tracker.ServiceTracker;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs the command line inside the framework. The bnd launcher of {@code vhost.jar} registers a
 * service carrying {@code launcher.arguments} (the {@code java -jar} arguments) and calls a
 * {@code Callable<Integer>} service with {@code main.thread=true} on the main thread once every
 * bundle started; its result is the process's exit code, after the launcher stops the framework.
 *
 * <p>Bounded exit: on Ctrl-C a shutdown hook lets the command finish (up to {@link #COMMAND_STOP_MS})
 * and stops the framework within {@link #STOP_TIMEOUT_MS}; after the command returns a daemon watchdog halts the JVM if the framework has not stopped
 * within {@link #EXIT_WATCHDOG_MS}.
 */
@Component(service = Callable.class, property = "main.thread=true", immediate = true)
public final class LauncherMain implements Callable<Integer>, CliServices {
    private static final Logger LOG = LoggerFactory.getLogger(LauncherMain.class);
    static final String LAUNCHER_ARGUMENTS = "launcher.arguments";
    static final long STOP_TIMEOUT_MS = 10_000;
    static final long COMMAND_STOP_MS = 3_000;
    static final long EXIT_WATCHDOG_MS = 20_000;
    static final long SHELL_WAIT_MS = 5_000;

    private final CountDownLatch stopped = new CountDownLatch(1);
    private final CountDownLatch commandDone = new CountDownLatch(1);
    private final PrintWriter out = new PrintWriter(
            new OutputStreamWriter(new FileOutputStream(FileDescriptor.out), Charset.defaultCharset()), true);
    private final PrintWriter err = new PrintWriter(
            new OutputStreamWriter(new FileOutputStream(FileDescriptor.err), Charset.defaultCharset()), true);
    private BundleContext context;
    private String[] arguments = new String[0];
    private Thread shutdownHook;
    private BlkTools blkTools;
    private NetTools netTools;
    private final java.util.List<ServiceTracker<?, ?>> trackers = new java.util.ArrayList<>();

    @Reference
    private DeviceRegistry registry;

    @Reference
    private ConfigurationAdmin configurationAdmin;

    @Reference(service = Object.class, target = "(" + LAUNCHER_ARGUMENTS + "=*)")
    void setLauncher(ServiceReference<Object> launcher) {
        Object args = launcher.getProperty(LAUNCHER_ARGUMENTS);
        if (args instanceof String[] a) {
            arguments = a.clone();
        }
    }

    @Activate
    void activate(BundleContext ctx) {
        context = ctx;
        Framework framework = (Framework) ctx.getBundle(0);
        shutdownHook = new Thread(() -> {
            // Ctrl-C: first let the running command (serve, run) close its server and unlink its
            // socket while its bundles are still wired, then stop the framework; both bounded.
            stopped.countDown();
            awaitQuietly(commandDone, COMMAND_STOP_MS);
            stopFramework(framework);
        }, "vhost-shutdown");
        Runtime.getRuntime().addShutdownHook(shutdownHook);
        LOG.debug("command line {}", Arrays.toString(arguments));
    }

    @Deactivate
    void deactivate() {
        stopped.countDown();
        synchronized (this) {
            trackers.forEach(ServiceTracker::close);
            trackers.clear();
        }
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException shuttingDown) {
            // The hook is what is stopping us.
        }
    }

    private static void awaitQuietly(CountDownLatch latch, long ms) {
        try {
            latch.await(ms, java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void stopFramework(Framework framework) {
        try {
            framework.stop();
            framework.waitForStop(STOP_TIMEOUT_MS);
        } catch (Exception e) {
            System.err.println("vhost: stopping the framework: " + e);
        }
    }

    @Override
    public Integer call() {
        int code;
        try {
            code = VhostCli.execute(this, arguments);
        } finally {
            commandDone.countDown();
            startExitWatchdog();
        }
        return code;
    }

    private static void startExitWatchdog() {
        Thread t = new Thread(() -> {
            try {
                Thread.sleep(EXIT_WATCHDOG_MS);
            } catch (InterruptedException e) {
                return;
            }
            System.err.println("vhost: the framework did not stop within " + EXIT_WATCHDOG_MS + " ms; halting");
            Runtime.getRuntime().halt(3);
        }, "vhost-exit-watchdog");
        t.setDaemon(true);
        t.start();
    }

    @Override
    public DeviceRegistry registry() {
        return registry;
    }

    @Override
    public ConfigurationAdmin configurationAdmin() {
        return configurationAdmin;
    }

    @Override
    public VhostOps backend(String type, Duration wait) throws InterruptedException {
        Filter filter;
        try {
            filter = FrameworkUtil.createFilter("(&(objectClass=" + VhostOps.class.getName() + ")(" + VhostOps.BACKEND_TYPE
                    + "=" + type + "))");
        } catch (InvalidSyntaxException e) {
            throw new IllegalArgumentException("backend type '" + type + "' is not usable in a filter", e);
        }
        ServiceTracker<VhostOps, VhostOps> tracker = new ServiceTracker<>(context, filter, null);
        tracker.open();
        try {
            VhostOps ops = tracker.waitForService(wait.toMillis());
            if (ops == null) {
                throw new IllegalStateException("no VhostOps service of type " + type + " appeared within "
                        + wait.toMillis() + " ms (is its bundle installed?)");
            }
            return ops;
        } finally {
            tracker.close();
        }
    }

    @Override
    public <T> T service(Class<T> type, String filter, String what, String bundle) throws InterruptedException {
        String f = "(objectClass=" + type.getName() + ")";
        if (filter != null) {
            f = "(&" + f + filter + ")";
        }
        ServiceTracker<T, T> tracker;
        try {
            tracker = new ServiceTracker<>(context, FrameworkUtil.createFilter(f), null);
        } catch (InvalidSyntaxException e) {
            throw new IllegalArgumentException("service filter " + f + ": " + e.getMessage(), e);
        }
        tracker.open();
        // Kept open until the component deactivates: the command uses the service until then.
        synchronized (this) {
            trackers.add(tracker);
        }
        T service = tracker.waitForService(SERVICE_WAIT_MS);
        if (service == null) {
            throw new IllegalStateException("no " + what + " appeared within " + SERVICE_WAIT_MS + " ms: is bundle " + bundle
                    + " installed and active?");
        }
        return service;
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
    public int interactiveShell() throws Exception {
        ServiceTracker<CommandProcessor, CommandProcessor> tracker = new ServiceTracker<>(context, CommandProcessor.class, null);
        tracker.open();
        try {
            CommandProcessor processor = tracker.waitForService(SHELL_WAIT_MS);
            if (processor == null) {
                throw new IllegalStateException("no Gogo CommandProcessor within " + SHELL_WAIT_MS
                        + " ms (bundle org.apache.felix.gogo.runtime missing?)");
            }
            return GogoShell.run(processor);
        } finally {
            try {
                tracker.close();
            } catch (IllegalStateException stopped) {
                // the framework stopped under the shell (Ctrl-C): nothing left to untrack
            }
        }
    }

    /** Start level FileInstall sits at in {@code vhost.bndrun}, above the beginning start level 10. */
    static final int FOLDER_START_LEVEL = 20;
    static final long FOLDER_START_MS = 10_000;
    static final String FILEINSTALL_DIR = "felix.fileinstall.dir";

    @Override
    public void watchFolders(Path conf, Path deploy) throws InterruptedException {
        // The bnd launcher copies the JVM's system properties into the framework's at launch, so a
        // -Dfelix.fileinstall.dir fixes the folders; the vhost script passes vhost.conf.dir and
        // vhost.deploy.dir instead and the folders are set here, before FileInstall starts and
        // reads the property (the framework falls back to the system properties).
        String fixed = context.getProperty(FILEINSTALL_DIR);
        if (fixed == null || conf != null || deploy != null) {
            Path c = conf != null ? conf : Path.of(System.getProperty("vhost.conf.dir", "conf"));
            Path d = deploy != null ? deploy : Path.of(System.getProperty("vhost.deploy.dir", "deploy"));
            try {
                Files.createDirectories(c);
                Files.createDirectories(d);
            } catch (java.io.IOException e) {
                throw new IllegalStateException("cannot create " + c + " or " + d + ": " + e.getMessage(), e);
            }
            String dirs = c.toAbsolutePath() + "," + d.toAbsolutePath();
            System.setProperty(FILEINSTALL_DIR, dirs);
            if (!dirs.equals(context.getProperty(FILEINSTALL_DIR))) {
                throw new IllegalStateException(FILEINSTALL_DIR + " was fixed when the framework started (" + fixed
                        + "): cannot watch " + dirs + " instead");
            }
        }
        FrameworkStartLevel fsl = context.getBundle(0).adapt(FrameworkStartLevel.class);
        if (fsl.getStartLevel() >= FOLDER_START_LEVEL) {
            return;
        }
        CountDownLatch changed = new CountDownLatch(1);
        fsl.setStartLevel(FOLDER_START_LEVEL, event -> changed.countDown());
        if (!changed.await(FOLDER_START_MS, java.util.concurrent.TimeUnit.MILLISECONDS)) {
            throw new IllegalStateException("the framework did not reach start level " + FOLDER_START_LEVEL + " (FileInstall) within "
                    + FOLDER_START_MS + " ms");
        }
        for (Bundle b : context.getBundles()) {
            if ("org.apache.felix.fileinstall".equals(b.getSymbolicName()) && b.getState() == Bundle.ACTIVE) {
                LOG.debug("FileInstall watches {}", context.getProperty(FILEINSTALL_DIR));
                return;
            }
        }
        throw new IllegalStateException("FileInstall (org.apache.felix.fileinstall) is not active: "
                + context.getProperty(FILEINSTALL_DIR) + " is not read");
    }

    @Override
    public Map<String, Object> awaitControlStatus(Path control, long waitMs) throws InterruptedException {
        return awaitService("(&(vhost.control.path=" + escape(control.toString()) + ")(vhost.control.state=*))", waitMs);
    }

    @Override
    public Map<String, Object> awaitService(String filterText, long waitMs) throws InterruptedException {
        Filter filter;
        try {
            filter = FrameworkUtil.createFilter(filterText);
        } catch (InvalidSyntaxException e) {
            throw new IllegalArgumentException("service filter " + filterText + ": " + e.getMessage(), e);
        }
        ServiceTracker<Object, Object> tracker = new ServiceTracker<>(context, filter, null);
        tracker.open(true);
        try {
            if (tracker.waitForService(waitMs) == null) {
                return null;
            }
            ServiceReference<Object> ref = tracker.getServiceReference();
            Map<String, Object> props = new java.util.HashMap<>();
            for (String k : ref.getPropertyKeys()) {
                props.put(k, ref.getProperty(k));
            }
            return props;
        } finally {
            tracker.close();
        }
    }

    @Override
    public java.util.List<String> installWebBundles(int startLevel) throws Exception {
        Path jar = EmbeddedBundles.webJar();
        java.util.List<String> installed = EmbeddedBundles.install(context, jar, startLevel);
        LOG.debug("installed from {} at start level {}: {}", jar, startLevel, installed);
        return installed;
    }

    @Override
    public void raiseStartLevel(int level, long waitMs) throws InterruptedException {
        FrameworkStartLevel fsl = context.getBundle(0).adapt(FrameworkStartLevel.class);
        if (fsl.getStartLevel() >= level) {
            return;
        }
        CountDownLatch changed = new CountDownLatch(1);
        fsl.setStartLevel(level, event -> changed.countDown());
        if (!changed.await(waitMs, java.util.concurrent.TimeUnit.MILLISECONDS)) {
            throw new IllegalStateException("the framework did not reach start level " + level + " within " + waitMs + " ms");
        }
    }

    private static String escape(String value) {
        return value.replace("\\", "\\\\").replace("*", "\\*").replace("(", "\\(").replace(")", "\\)");
    }

    @Override
    public void awaitShutdown() throws InterruptedException {
        stopped.await();
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
