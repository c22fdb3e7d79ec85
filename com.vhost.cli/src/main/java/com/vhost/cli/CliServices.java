package com.vhost.cli;

import com.vhost.api.VhostOps;
import com.vhost.api.registry.DeviceRegistry;
import java.io.PrintWriter;
import java.time.Duration;
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
     * Runs an interactive Gogo session on the process's stdin/stdout until the user leaves it.
     *
     * @throws IllegalStateException when no Gogo CommandProcessor is available
     */
    void interactiveShell() throws Exception;

    /** Blocks until the framework stops (Ctrl-C, or {@code stop 0} in a shell). */
    void awaitShutdown() throws InterruptedException;

    /** @return standard output */
    PrintWriter out();

    /** @return standard error */
    PrintWriter err();
}
