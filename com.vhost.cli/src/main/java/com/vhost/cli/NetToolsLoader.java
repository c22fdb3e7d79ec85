package com.vhost.cli;

import com.vhost.api.VhostBackend;
import com.vhost.api.net.NetDevice;
import java.nio.file.Path;

/**
 * Loads {@link com.vhost.cli.embedded.EmbeddedNetTools}, which links against
 * {@code com.vhost.devices.net} and {@code com.vhost.user} (imported optionally): without them each
 * operation fails with a message naming the missing bundle instead of a {@link NoClassDefFoundError}.
 */
final class NetToolsLoader {
    private NetToolsLoader() {}

    static NetTools load() {
        try {
            return new Guarded(new com.vhost.cli.embedded.EmbeddedNetTools());
        } catch (LinkageError e) {
            return new Guarded(null);
        }
    }

    private static IllegalStateException missing(Throwable e) {
        return new IllegalStateException("virtio-net needs the com.vhost.devices.net and com.vhost.user bundles"
                + (e == null ? "" : " (" + e + ")"));
    }

    record Guarded(NetTools delegate) implements NetTools {
        /** A call into the implementation bundles. */
        @FunctionalInterface
        interface Call<T> {
            T run(NetTools delegate) throws Exception;
        }

        /**
         * @return what {@code call} returns on the delegate
         * @throws IllegalStateException naming the missing bundles when there is no delegate or
         *     the call hits a {@link LinkageError}
         */
        private <T> T guard(Call<T> call) throws Exception {
            if (delegate == null) {
                throw missing(null);
            }
            try {
                return call.run(delegate);
            } catch (LinkageError e) {
                throw missing(e);
            }
        }

        @Override
        public Served serveLoopback(Path socket, int pairs, int queueSize, String mac, int mtu, boolean poll) throws Exception {
            return guard(d -> d.serveLoopback(socket, pairs, queueSize, mac, mtu, poll));
        }

        @Override
        public Served serveTap(Path socket, String tap, int queueSize, String mac, int mtu, boolean poll) throws Exception {
            return guard(d -> d.serveTap(socket, tap, queueSize, mac, mtu, poll));
        }

        @Override
        public NetDevice openDevice(VhostBackend backend, int pairs, int queueSize, boolean poll) throws Exception {
            if (delegate == null) {
                backend.close();
                throw missing(null);
            }
            try {
                return delegate.openDevice(backend, pairs, queueSize, poll);
            } catch (LinkageError e) {
                backend.close();
                throw missing(e);
            }
        }

        @Override
        public NetSwap swappable(NetDevice device) {
            if (delegate == null) {
                return null;
            }
            try {
                return delegate.swappable(device);
            } catch (LinkageError e) {
                return null;
            }
        }

        @Override
        public EchoStream startEchoStream(NetDevice device, int pair, int window, int burst) {
            if (delegate == null) {
                throw missing(null);
            }
            try {
                return delegate.startEchoStream(device, pair, window, burst);
            } catch (LinkageError e) {
                throw missing(e);
            }
        }
    }
}
