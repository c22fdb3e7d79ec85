package com.vhost.user.backend;

import com.vhost.api.VhostException;
import com.vhost.api.backend.BackendServer;
import com.vhost.api.backend.DeviceModel;
import com.vhost.api.backend.ModelHandover;
import com.vhost.api.backend.ServedBackend;
import com.vhost.api.backend.SocketOptions;
import java.nio.file.Path;
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
        return new Served(server, model);
    }

    private static final class Served implements ServedBackend {
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
