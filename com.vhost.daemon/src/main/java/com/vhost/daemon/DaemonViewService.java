package com.vhost.daemon;

import com.vhost.api.daemon.DaemonView;
import com.vhost.api.daemon.HealthResult;
import com.vhost.api.daemon.ServedBackendInfo;
import com.vhost.daemon.rpc.RpcException;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Optional;

/**
 * {@link DaemonView} over the same objects the control socket's methods use ({@link ServedBackends},
 * {@link Health}, {@link DeviceMethods#swap(String, String, String)}).
 */
final class DaemonViewService implements DaemonView {
    private final ServedBackends served;
    private final Health health;
    private final DeviceMethods devices;

    DaemonViewService(ServedBackends served, Health health, DeviceMethods devices) {
        this.served = served;
        this.health = health;
        this.devices = devices;
    }

    @Override
    public List<ServedBackendInfo> servedBackends() {
        return served.list().stream().map(e -> new ServedBackendInfo(e.name(), e.type(), e.served().socket().toString(),
                e.served().acceptedConnections(), e.served().model().describe(), e.served().model().counters())).toList();
    }

    @Override
    public List<HealthResult> health() {
        return health.all();
    }

    @Override
    public Optional<HealthResult> deviceHealth(String id) {
        return health.device(id);
    }

    @Override
    public Optional<HealthResult> servedHealth(String name) {
        return health.served(name);
    }

    @Override
    public Map<String, Object> swap(String id, String target, String backendType) throws Exception {
        String type = backendType == null ? "" : backendType;
        if (!List.of("", "user", "kernel", "vdpa").contains(type)) {
            throw new IllegalArgumentException("backend type '" + type + "' is not user, kernel or vdpa");
        }
        if (target == null || target.isBlank()) {
            throw new IllegalArgumentException("device '" + id + "': no target to swap to");
        }
        try {
            return devices.swap(id, target, type);
        } catch (RpcException e) {
            if (e.code() == RpcException.NOT_FOUND) {
                throw new NoSuchElementException(e.getMessage());
            }
            throw e;
        }
    }
}
