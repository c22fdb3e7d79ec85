package com.vhost.cli;

import com.vhost.api.backend.SocketOptions;
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

    /**
     * Serves the loopback model on {@code socket}, whose file gets {@code access}' mode and group
     * (a live server's socket or another kind of file there is refused); {@code poll}: the worker
     * busy-polls the transmit queues.
     */
    Served serveLoopback(Path socket, SocketOptions access, int pairs, int queueSize, String mac, int mtu, boolean poll) throws Exception;

    /** Serves the TAP model bridged to interface {@code tap} on {@code socket}, as {@link #serveLoopback} does. */
    Served serveTap(Path socket, SocketOptions access, String tap, int queueSize, String mac, int mtu, boolean poll) throws Exception;

    /** Starts the virtio-net driver on an open backend (closed on failure). */
    NetDevice openDevice(VhostBackend backend, int pairs, int queueSize, boolean poll) throws Exception;

    /**
     * As {@link #openDevice(VhostBackend, int, int, boolean)}; {@code packed} asks for packed
     * virtqueues (VIRTIO_F_RING_PACKED), split ones being used when the back-end does not offer them.
     *
     * @throws UnsupportedOperationException by default when {@code packed} (no packed driver)
     */
    default NetDevice openDevice(VhostBackend backend, int pairs, int queueSize, boolean poll, boolean packed) throws Exception {
        if (packed) {
            backend.close();
            throw new UnsupportedOperationException("this virtio-net driver has no packed virtqueues");
        }
        return openDevice(backend, pairs, queueSize, poll);
    }

    /**
     * Starts the virtio-net driver so that, when its back-end goes away, it detaches instead of
     * failing ({@code detach.on.loss=true}): transmitted frames wait in its rings and data-path
     * calls go on for up to {@code swapWaitMs} until {@link ReconnectView#rebind} gives it a new
     * back-end (then they fail with {@link com.vhost.api.VhostDisconnectedException}).
     *
     * @param backend open backend; the returned device owns it and closes it (also on failure)
     * @param swapWaitMs how long the detached device waits for a new back-end, in milliseconds
     * @return the running device; {@link #reconnectable} gives its reconnect view
     * @throws UnsupportedOperationException by default (no driver that can detach)
     * @throws Exception when negotiation or setup fails
     */
    default NetDevice openReconnectable(VhostBackend backend, int pairs, int queueSize, boolean poll, long swapWaitMs)
            throws Exception {
        backend.close();
        throw new UnsupportedOperationException("this virtio-net driver cannot wait for a reconnect");
    }

    /**
     * As {@link #openDevice(VhostBackend, int, int, boolean, boolean)}; {@code inOrder} false
     * leaves VIRTIO_F_IN_ORDER out ({@code in.order=false}), else it is negotiated when offered.
     *
     * @throws UnsupportedOperationException by default when {@code inOrder} is false
     */
    default NetDevice openDevice(VhostBackend backend, int pairs, int queueSize, boolean poll, boolean packed, boolean inOrder)
            throws Exception {
        if (!inOrder) {
            backend.close();
            throw new UnsupportedOperationException("this virtio-net driver cannot leave VIRTIO_F_IN_ORDER out");
        }
        return openDevice(backend, pairs, queueSize, poll, packed);
    }

    /**
     * As {@link #openReconnectable(VhostBackend, int, int, boolean, long)}; {@code inOrder} false
     * leaves VIRTIO_F_IN_ORDER out, so a rebind may also go to a back-end that does not offer it.
     *
     * @throws UnsupportedOperationException by default when {@code inOrder} is false
     */
    default NetDevice openReconnectable(VhostBackend backend, int pairs, int queueSize, boolean poll, long swapWaitMs, boolean inOrder)
            throws Exception {
        if (!inOrder) {
            backend.close();
            throw new UnsupportedOperationException("this virtio-net driver cannot leave VIRTIO_F_IN_ORDER out");
        }
        return openReconnectable(backend, pairs, queueSize, poll, swapWaitMs);
    }

    /** @return the reconnect view of a device from {@link #openReconnectable}, or null for another device */
    default ReconnectView reconnectable(NetDevice device) {
        return null;
    }

    /** @return the hot-swap view of {@code device}, or null when it cannot move between backends */
    default MeasuredSwap swappable(NetDevice device) {
        return null;
    }

    /** A sequence-numbered stream through an echoing back-end, on a thread of its own. */
    interface EchoStream {
        /** @return intact frames received so far */
        long received();

        /**
         * Stops sending, receives what still comes back for at most {@code drainMillis}.
         *
         * @return {@code {sent, received, lost, duplicated, reordered, corrupted}}
         */
        long[] stop(long drainMillis) throws InterruptedException;

        /** @return the first data-path error (the stream then stopped), or null */
        String firstError();
    }

    /**
     * Starts a sequence-numbered echo stream on {@code pair} of {@code device}, keeping at most
     * {@code window} frames unanswered, {@code burst} frames per call.
     */
    EchoStream startEchoStream(NetDevice device, int pair, int window, int burst);
}
