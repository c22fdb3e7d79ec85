package com.vhost.daemon;

import com.vhost.api.VhostException;
import com.vhost.api.backend.BackendServer;
import com.vhost.api.backend.DeviceModel;
import com.vhost.api.backend.DeviceModelFactory;
import com.vhost.api.backend.ServedBackend;
import com.vhost.api.backend.SocketOptions;
import com.vhost.daemon.rpc.RpcException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The back-ends the daemon serves by name ({@code backend_serve_blk}, {@code backend_serve_net}):
 * each a {@link DeviceModel} from the device bundle's {@link DeviceModelFactory} served by the
 * {@link BackendServer} of {@code com.vhost.user} on a private socket (mode 0600). Thread-safe.
 */
final class ServedBackends implements AutoCloseable {
    /** One served back-end. */
    record Entry(String name, String type, ServedBackend served) {}

    private final Map<String, Entry> byName = new TreeMap<>();
    private final Supplier<BackendServer> server;
    private final Function<String, DeviceModelFactory> factories;

    /**
     * @param server the current back-end server service, or null when none
     * @param factories the model factory of a device type, or null when none
     */
    ServedBackends(Supplier<BackendServer> server, Function<String, DeviceModelFactory> factories) {
        this.server = server;
        this.factories = factories;
    }

    /**
     * Makes a model of {@code type} from {@code config} and serves it on {@code socket} as {@code name}.
     *
     * @throws RpcException {@link RpcException#EXISTS} when the name is taken,
     *     {@link RpcException#OPERATION_FAILED} when the factory or server service is missing
     * @throws IllegalArgumentException from the factory, naming a bad configuration value (image)
     * @throws VhostException when the socket cannot be bound (in use by another server, not a socket)
     */
    Entry serve(String name, String type, Path socket, Map<String, Object> config) throws Exception {
        synchronized (this) {
            if (byName.containsKey(name)) {
                throw new RpcException(RpcException.EXISTS, "a back-end named '" + name + "' is already served on "
                        + byName.get(name).served().socket());
            }
            byName.put(name, null); // reserved while the model starts
        }
        try {
            DeviceModelFactory f = factories.apply(type);
            if (f == null) {
                throw new RpcException(RpcException.OPERATION_FAILED, "no " + type + " device model factory: is bundle com.vhost.devices."
                        + type + " active?");
            }
            BackendServer s = server.get();
            if (s == null) {
                throw new RpcException(RpcException.OPERATION_FAILED, "no vhost-user back-end server: is bundle com.vhost.user active?");
            }
            DeviceModel model = f.create(config);
            ServedBackend served = s.serve(socket, model, SocketOptions.PRIVATE);
            Entry e = new Entry(name, type, served);
            synchronized (this) {
                byName.put(name, e);
            }
            return e;
        } catch (Exception | Error e) {
            synchronized (this) {
                byName.remove(name);
            }
            throw e;
        }
    }

    /** @return the served back-ends, by name */
    synchronized List<Entry> list() {
        List<Entry> l = new ArrayList<>();
        byName.values().stream().filter(e -> e != null).forEach(l::add);
        return l;
    }

    /**
     * Stops serving {@code name}: the socket is removed, the session ended, the model closed.
     *
     * @throws RpcException {@link RpcException#NOT_FOUND} when no back-end has that name
     */
    Entry delete(String name) throws RpcException {
        Entry e;
        synchronized (this) {
            e = byName.get(name);
            if (e == null) {
                throw new RpcException(RpcException.NOT_FOUND, "no served back-end named '" + name + "'");
            }
            byName.remove(name);
        }
        e.served().close();
        return e;
    }

    /** Drops the entry of {@code served} (stopped by other means, e.g. a failed upgrade), if any. */
    synchronized void forget(ServedBackend served) {
        byName.values().removeIf(e -> e != null && e.served() == served);
    }

    /** @return one served back-end as the methods show it */
    static Map<String, Object> describe(Entry e) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", e.name());
        m.put("type", e.type());
        m.put("socket", e.served().socket().toString());
        m.put("sessions", e.served().acceptedConnections());
        m.put("model", e.served().model().describe());
        m.put("counters", e.served().model().counters());
        return m;
    }

    /** Stops serving every back-end. */
    @Override
    public void close() {
        List<Entry> all;
        synchronized (this) {
            all = list();
            byName.clear();
        }
        all.forEach(e -> e.served().close());
    }
}
