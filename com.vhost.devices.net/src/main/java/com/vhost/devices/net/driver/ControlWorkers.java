package com.vhost.devices.net.driver;

import com.vhost.api.VhostException;
import com.vhost.api.virtio.Interrupt;
import com.vhost.spi.backend.QueueWorker;
import com.vhost.spi.virtqueue.DeviceQueue;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The control queue's worker of one {@link VirtioNetDriver}, kept idle between the front-ends a
 * hot-swap replaces one with another: the old front-end's sleep hands its worker here (its queue
 * removed), and the new one's start takes it and serves its own control queue with it. No thread
 * is started or stopped inside the swap's I/O pause (HotSpot's {@code Thread.start} waits for the
 * new thread to run; a stop waits for the old one to end). The worker calls the front-end that
 * took it last. Thread-safe.
 */
final class ControlWorkers implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ControlWorkers.class);
    /** Bound on a worker stop or queue change, ms. */
    static final long TIMEOUT_MS = 5000;

    private QueueWorker spare;
    private volatile VirtioNetFrontend target;
    private boolean closed;

    /**
     * @return a worker serving {@code queue} for {@code frontend}: the idle one rebound to
     *     {@code irq}, or a new one, started
     * @throws VhostException when the queue cannot be served (nothing kept)
     */
    QueueWorker serve(VirtioNetFrontend frontend, DeviceQueue queue, Interrupt irq) throws VhostException {
        QueueWorker w;
        synchronized (this) {
            w = spare;
            spare = null;
            target = frontend;
        }
        if (w != null && w.isRunning()) {
            w.rebind(irq);
            try {
                w.addQueue(queue, TIMEOUT_MS);
                return w;
            } catch (VhostException | RuntimeException e) {
                w.stop(TIMEOUT_MS);
                throw e;
            }
        }
        w = new QueueWorker("vhost-net-ctrl", List.of(queue), (i, q) -> target.serveControl(q), irq);
        w.start();
        return w;
    }

    /**
     * Takes the control queue off {@code w} and keeps the idle thread for the next front-end
     * (stopped instead once closed).
     *
     * @return the removed queue (its next avail index exact), or null when {@code w} served none
     * @throws VhostException when the queue could not be removed in time (the worker is stopped)
     */
    DeviceQueue park(QueueWorker w, int ctrlIndex) throws VhostException {
        DeviceQueue q;
        try {
            q = w.removeQueue(ctrlIndex, TIMEOUT_MS);
        } catch (VhostException | RuntimeException e) {
            w.stop(TIMEOUT_MS);
            throw e;
        }
        QueueWorker old;
        synchronized (this) {
            if (closed || !w.isRunning()) {
                old = w;
            } else {
                old = spare;
                spare = w;
            }
        }
        if (old != null) {
            old.stop(TIMEOUT_MS);
        }
        return q;
    }

    /** Stops the idle worker; later ones are stopped when parked. */
    @Override
    public void close() {
        QueueWorker w;
        synchronized (this) {
            closed = true;
            w = spare;
            spare = null;
        }
        if (w != null) {
            try {
                w.stop(TIMEOUT_MS);
            } catch (VhostException e) {
                LOG.warn("control queue worker: {}", e.getMessage());
            }
        }
    }
}
