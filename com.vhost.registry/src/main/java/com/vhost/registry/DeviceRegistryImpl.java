package com.vhost.registry;

import com.vhost.api.VhostBackendType;
import com.vhost.api.VhostOps;
import com.vhost.api.registry.BackendInfo;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.DeviceRegistry;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.osgi.framework.Bundle;
import org.osgi.framework.Constants;
import org.osgi.framework.ServiceReference;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link DeviceRegistry} service: aggregates the device components (one per configuration)
 * and the active {@link VhostOps} services. Binding itself happens in each {@link DeviceComponent}.
 */
@Component(service = DeviceRegistry.class, immediate = true)
public final class DeviceRegistryImpl implements DeviceRegistry {
    private static final Logger LOG = LoggerFactory.getLogger(DeviceRegistryImpl.class);

    private final List<ManagedDevice> devices = new CopyOnWriteArrayList<>();
    private final Map<Long, BackendInfo> backends = new ConcurrentHashMap<>();
    private final Map<Long, VhostOps> backendServices = new ConcurrentHashMap<>();

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC, unbind = "removeDevice")
    void addDevice(ManagedDevice device) {
        devices.add(device);
        LOG.info("registry: device {} added", device.info().id());
    }

    void removeDevice(ManagedDevice device) {
        devices.remove(device);
        LOG.info("registry: device {} removed", device.info().id());
    }

    @Reference(
            service = VhostOps.class,
            cardinality = ReferenceCardinality.MULTIPLE,
            policy = ReferencePolicy.DYNAMIC,
            unbind = "removeBackend",
            updated = "updatedBackend")
    void addBackend(ServiceReference<VhostOps> ref, VhostOps service) {
        BackendInfo info = backendInfo(ref);
        if (info == null) {
            return;
        }
        backends.put(info.serviceId(), info);
        backendServices.put(info.serviceId(), service);
        LOG.info("registry: backend {} ({}, ranking {}) from {} added", info.name(), info.type().id(), info.ranking(),
                info.bundle());
    }

    void updatedBackend(ServiceReference<VhostOps> ref) {
        BackendInfo info = backendInfo(ref);
        if (info != null) {
            backends.put(info.serviceId(), info);
        }
    }

    void removeBackend(ServiceReference<VhostOps> ref) {
        backendServices.remove(serviceId(ref));
        BackendInfo info = backends.remove(serviceId(ref));
        if (info != null) {
            LOG.info("registry: backend {} ({}) removed", info.name(), info.type().id());
        }
    }

    @Override
    public List<DeviceInfo> devices() {
        return devices.stream().map(ManagedDevice::info).sorted(Comparator.comparing(DeviceInfo::id)).toList();
    }

    @Override
    public List<BackendInfo> backends() {
        return backends.values().stream()
                .sorted(Comparator.comparing((BackendInfo b) -> b.type().id())
                        .thenComparing(BackendInfo::ranking, Comparator.reverseOrder())
                        .thenComparing(BackendInfo::serviceId))
                .toList();
    }

    @Override
    public Optional<DeviceInfo> device(String id) {
        return find(id).map(ManagedDevice::info);
    }

    @Override
    public <T> Optional<T> deviceApi(String id, Class<T> type) {
        return find(id).map(d -> d.api(type));
    }

    /**
     * {@inheritDoc} {@code to} names a backend service when one has that name, else it is a path
     * for the device's current backend.
     */
    @Override
    public String swap(String id, String to) throws com.vhost.api.VhostException {
        ManagedDevice d = find(id).orElseThrow(() -> new com.vhost.api.VirtioDeviceException("swap: no device '" + id
                + "' (devices: " + devices().stream().map(DeviceInfo::id).toList() + ")"));
        if (to == null || to.isBlank()) {
            throw new com.vhost.api.VirtioDeviceException("swap " + id + ": no backend name or target given");
        }
        for (BackendInfo b : backends()) {
            if (b.name().equals(to)) {
                VhostOps ops = backendServices.get(b.serviceId());
                if (ops != null) {
                    LOG.info("registry: operator swaps device {} to backend {}", id, to);
                    return d.swap(ops, b.name(), null);
                }
            }
        }
        if (!to.contains("/")) {
            throw new com.vhost.api.VirtioDeviceException("swap " + id + ": '" + to + "' is neither an active backend "
                    + backends().stream().map(BackendInfo::name).toList() + " nor a path");
        }
        LOG.info("registry: operator swaps device {} to target {}", id, to);
        return d.swap(null, null, to);
    }

    @Override
    public byte[] snapshot(String id) throws com.vhost.api.VhostException {
        LOG.info("registry: operator takes a snapshot of device {}", id);
        return require("snapshot", id).snapshot();
    }

    @Override
    public String restore(String id, byte[] snapshot) throws com.vhost.api.VhostException {
        LOG.info("registry: operator restores device {} from a snapshot of {} bytes", id, snapshot.length);
        return require("restore", id).restore(snapshot);
    }

    private ManagedDevice require(String what, String id) throws com.vhost.api.VirtioDeviceException {
        return find(id).orElseThrow(() -> new com.vhost.api.VirtioDeviceException(what + ": no device '" + id
                + "' (devices: " + devices().stream().map(DeviceInfo::id).toList() + ")"));
    }

    @Override
    public Map<String, Long> counters(String id) {
        return find(id).map(ManagedDevice::counters).orElse(Map.of());
    }

    private Optional<ManagedDevice> find(String id) {
        for (ManagedDevice d : devices) {
            if (d.info().id().equals(id)) {
                return Optional.of(d);
            }
        }
        return Optional.empty();
    }

    /** @return the backend's description, or null (logged) when its type property is not valid */
    static BackendInfo backendInfo(ServiceReference<?> ref) {
        long id = serviceId(ref);
        Object typeProp = ref.getProperty(VhostOps.BACKEND_TYPE);
        VhostBackendType type;
        try {
            type = VhostBackendType.fromId(typeProp == null ? "" : typeProp.toString());
        } catch (IllegalArgumentException e) {
            LOG.warn("registry: ignoring VhostOps service {}: {} {}", id, VhostOps.BACKEND_TYPE, e.getMessage());
            return null;
        }
        Object nameProp = ref.getProperty(VhostOps.BACKEND_NAME);
        String name = nameProp == null ? type.id() + "-" + id : nameProp.toString();
        Object rank = ref.getProperty(Constants.SERVICE_RANKING);
        int ranking = rank instanceof Integer r ? r : 0;
        Bundle b = ref.getBundle();
        String bundle = b == null ? "?" : b.getSymbolicName();
        return new BackendInfo(name, type, ranking, id, bundle);
    }

    private static long serviceId(ServiceReference<?> ref) {
        Object id = ref.getProperty(Constants.SERVICE_ID);
        return id instanceof Long l ? l : -1L;
    }
}
