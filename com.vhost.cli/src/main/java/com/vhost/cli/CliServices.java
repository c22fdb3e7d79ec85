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

    /** @return the virtio-blk and vhost-user implementation seam */
    BlkTools blkTools();

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
