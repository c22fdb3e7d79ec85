package com.vhost.user.backend;

import com.vhost.api.VhostException;
import com.vhost.api.backend.BackendServer;
import com.vhost.api.backend.DeviceModel;
import com.vhost.api.backend.ModelHandover;
import com.vhost.api.backend.ServedBackend;
import com.vhost.api.backend.SocketOptions;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import org.osgi.service.component.annotations.Component;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link BackendServer} service: one {@link VhostUserServer} per {@link #serve} call, owning
 * the model it serves (and, after a {@link ModelHandover}, the model that took over).
 */
@Component(service = BackendServer.class)
public final class VhostUserBackendServer implements BackendServer {
    private static final Logger LOG = LoggerFactory.getLogger(VhostUserBackendServer.class);
    /** The back-ends served and not closed, in start order. */
    private final Set<Served> served = Collections.synchronizedSet(new LinkedHashSet<>());

    @Override
    public List<ServedBackend> served() {
        synchronized (served) {
            return List.copyOf(served);
        }
    }

    @Override
    public ServedBackend serve(Path socket, DeviceModel model, SocketOptions options) throws VhostException {
        VhostUserServer server = null;
        try {
            server = new VhostUserServer(socket, model.device(), options);
            server.start();
        } catch (VhostException | RuntimeException | Error e) {
            try {
                if (server != null) {
                    server.close();
                }
            } finally {
                model.close();
            }
            throw e;
        }
        Served s = new Served(server, model);
        served.add(s);
        return s;
    }

    private final class Served implements ServedBackend {
        private final VhostUserServer server;
        private final AtomicBoolean closed = new AtomicBoolean();
        private volatile DeviceModel model;

        Served(VhostUserServer server, DeviceModel model) {
            this.server = server;
            this.model = model;
        }

        @Override
        public Path socket() {
            return server.socketPath();
        }

        @Override
        public DeviceModel model() {
            return model;
        }

        @Override
        public long acceptedConnections() {
            return server.acceptedConnections();
        }

        @Override
        public boolean awaitConnection(long millis) throws InterruptedException {
            return server.awaitConnection(millis);
        }

        @Override
        public ModelHandover handOver(long timeoutMs) throws VhostException {
            if (closed.get()) {
                throw new com.vhost.api.VirtioDeviceException("back-end " + socket() + " is closed");
            }
            return new Handover(server.handOver(timeoutMs), model);
        }

        @Override
        public void close() {
            if (closed.getAndSet(true)) {
                return;
            }
            served.remove(this);
            try {
                server.close();
            } finally {
                model.close();
            }
        }

        /** The API's handover over the server's: it owns the old model until it is released or replaced. */
        private final class Handover implements ModelHandover {
            private final VhostUserServer.Handover inner;
            private final DeviceModel old;
            private boolean released;

            Handover(VhostUserServer.Handover inner, DeviceModel old) {
                this.inner = inner;
                this.old = old;
            }

            @Override
            public byte[] snapshot() {
                return inner.snapshot().clone();
            }

            @Override
            public DeviceModel model() {
                return old;
            }

            @Override
            public boolean sessionConnected() {
                return inner.sessionConnected();
            }

            @Override
            public void releaseModel() {
                if (!released) {
                    released = true;
                    old.close();
                }
            }

            @Override
            public long complete(DeviceModel next) throws VhostException {
                long pause = inner.complete(next.device());
                model = next;
                releaseModel();
                return pause;
            }

            @Override
            public void close() {
                if (inner.ended()) {
                    return;
                }
                if (!released) {
                    try {
                        inner.resumeOld();
                        return;
                    } catch (VhostException | RuntimeException e) {
                        LOG.error("back-end {}: the old device model did not wake after the handover: {}", socket(), e.getMessage());
                        inner.abandon("the old device model did not wake: " + e.getMessage());
                    }
                } else {
                    inner.abandon("the old device model was released and no new one took over");
                }
                Served.this.close();
            }
        }
    }
}
