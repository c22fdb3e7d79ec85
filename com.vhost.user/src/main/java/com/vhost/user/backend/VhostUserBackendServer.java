package com.vhost.user.backend;

import com.vhost.api.VhostException;
import com.vhost.api.backend.BackendServer;
import com.vhost.api.backend.DeviceModel;
import com.vhost.api.backend.ServedBackend;
import com.vhost.api.backend.SocketOptions;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;
import org.osgi.service.component.annotations.Component;

/**
 * The {@link BackendServer} service: one {@link VhostUserServer} per {@link #serve} call, owning
 * the model it serves.
 */
@Component(service = BackendServer.class)
public final class VhostUserBackendServer implements BackendServer {
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
        return new Served(server, model, new AtomicBoolean());
    }

    private record Served(VhostUserServer server, DeviceModel model, AtomicBoolean closed) implements ServedBackend {
        @Override
        public Path socket() {
            return server.socketPath();
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
    }
}
