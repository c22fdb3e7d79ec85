package com.vhost.cli;

import com.vhost.api.VhostOps;
import com.vhost.api.registry.DeviceRegistry;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.osgi.service.cm.ConfigurationAdmin;

/** What the picocli commands get from the running framework. */
public interface CliServices {
    /** @return the device registry */
    DeviceRegistry registry();

    /** @return Configuration Admin, to create device configurations */
    ConfigurationAdmin configurationAdmin();

    /**
     * Waits (bounded) for the best-ranked {@link VhostOps} service of a backend type.
     *
     * @param type {@code user}, {@code kernel} or {@code vdpa}
     * @param wait how long to wait for the service to appear
     * @throws IllegalStateException naming the type when none appears in time
     */
    VhostOps backend(String type, Duration wait) throws InterruptedException;

    /**
     * Waits (bounded) for the best-ranked service of {@code type} matching {@code filter}.
     *
     * @param filter an LDAP filter on the service's properties, or null for any
     * @param what the service for humans ("virtio-blk driver factory")
     * @param bundle the bundle that registers it, named when it does not appear
     * @throws IllegalStateException naming {@code what} and {@code bundle} when none appears within
     *     {@link #SERVICE_WAIT_MS} milliseconds
     */
    <T> T service(Class<T> type, String filter, String what, String bundle) throws InterruptedException;

    /** How long {@link #service} waits for a service to appear, in milliseconds. */
    long SERVICE_WAIT_MS = 5_000;

    /** @return the blk tools over the device, driver and back-end server services (one per process) */
    BlkTools blkTools();

    /** @return the net tools over the device, driver and back-end server services (one per process) */
    NetTools netTools();

    /**
     * Runs an interactive Gogo session on the process's stdin/stdout until the user leaves it
     * ({@code exit [CODE]}, or the end of input).
     *
     * @return the code given to {@code exit}, 0 without one
     *
     * @throws IllegalStateException when no Gogo CommandProcessor is available
     */
    int interactiveShell() throws Exception;

    /**
     * Starts Felix FileInstall on {@code conf} (Configuration Admin files such as
     * {@code com.vhost.device-disk0.cfg}) and {@code deploy} (bundles), creating them when missing.
     * Only {@code run}, {@code daemon} and {@code shell} call it: other commands never read conf/.
     * Returns once FileInstall has started (its first scan follows at once).
     *
     * @param conf the configuration folder, or null for the platform's: {@code felix.fileinstall.dir}
     *     when given at launch (both folders), else {@code vhost.conf.dir} as the {@code vhost}
     *     script sets it, else {@code ./conf}
     * @param deploy the bundle folder, or null for the platform's ({@code vhost.deploy.dir}, else
     *     {@code ./deploy})
     * @throws IllegalStateException when FileInstall is missing or did not start within 10 s, or
     *     {@code felix.fileinstall.dir} was fixed at launch and other folders are asked for
     */
    void watchFolders(Path conf, Path deploy) throws InterruptedException;

    /**
     * Waits for the status the daemon's control component registers for {@code control}.
     *
     * @param waitMs the longest wait, in milliseconds
     * @return its properties ({@code vhost.control.state} = {@code listening} or {@code failed},
     *     {@code vhost.control.error}), or null when none appeared in time
     */
    Map<String, Object> awaitControlStatus(Path control, long waitMs) throws InterruptedException;

    /**
     * Raises the framework's start level to {@code level} (bundles placed there in vhost.bndrun
     * start, e.g. the web bundles at 30 for {@code daemon --http}); returns at once when it is
     * there already.
     *
     * @param waitMs the longest wait for the bundles to start, in milliseconds
     * @throws IllegalStateException when the level is not reached in time
     */
    void raiseStartLevel(int level, long waitMs) throws InterruptedException;

    /**
     * Installs the web bundles of {@code vhost daemon --http} from platform/target/web.jar (those
     * vhost.jar does not have) at {@code startLevel}, marked to start there.
     *
     * @return the symbolic names installed
     * @throws IllegalStateException when web.jar is missing
     * @throws Exception when it cannot be read or the framework refuses a bundle
     */
    java.util.List<String> installWebBundles(int startLevel) throws Exception;

    /**
     * Waits for a service matching {@code filter}.
     *
     * @param filter an LDAP filter on service properties (objectClass included when it matters)
     * @param waitMs the longest wait, in milliseconds
     * @return the best match's properties, or null when none appeared in time
     * @throws IllegalArgumentException when {@code filter} does not parse
     */
    Map<String, Object> awaitService(String filter, long waitMs) throws InterruptedException;

    /** Blocks until the framework stops (Ctrl-C, or {@code stop 0} in a shell). */
    void awaitShutdown() throws InterruptedException;

    /**
     * @return whether standard input and output are a terminal: progress is then one status line
     *     rewritten in place, else a line per interval (see {@code Progress})
     */
    default boolean terminal() {
        return Progress.onTerminal();
    }

    /** @return standard output */
    PrintWriter out();

    /** @return standard error */
    PrintWriter err();
}
