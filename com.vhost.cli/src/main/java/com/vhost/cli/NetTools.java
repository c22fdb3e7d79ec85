package com.vhost.cli;

import com.vhost.api.VhostBackend;
import com.vhost.api.net.NetDevice;
import java.nio.file.Path;

/** The seam between the net commands and the implementation bundles (devices.net, vhost-user). */
public interface NetTools {
    /** A model being served; close stops the server and removes the socket. */
    interface Served extends AutoCloseable {
        /** @return "loopback, 1 pair(s) on /tmp/x.sock" */
        String describe();

        /** @return per-pair counters of the model, one line each */
        String counters();

        @Override
        void close() throws Exception;
    }

    /** Serves the loopback model on {@code socket}; {@code poll}: the worker busy-polls the transmit queues. */
    Served serveLoopback(Path socket, int pairs, int queueSize, String mac, int mtu, boolean poll) throws Exception;

    /** Serves the TAP model bridged to interface {@code tap} on {@code socket}. */
    Served serveTap(Path socket, String tap, int queueSize, String mac, int mtu, boolean poll) throws Exception;

    /** Starts the virtio-net driver on an open backend (closed on failure). */
    NetDevice openDevice(VhostBackend backend, int pairs, int queueSize, boolean poll) throws Exception;
}
