package com.vhost.registry;

import java.lang.management.ManagementFactory;
import java.util.Map;
import javax.management.JMException;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Registers a {@link DeviceStatsMBean} for one device in the platform MBean server as
 * {@code com.vhost:type=Device,name=<id>}; a failure to register is logged, never fatal.
 */
final class DeviceMBeanRegistration {
    private static final Logger LOG = LoggerFactory.getLogger(DeviceMBeanRegistration.class);

    private final MBeanServer server;
    private final ObjectName name;

    private DeviceMBeanRegistration(MBeanServer server, ObjectName name) {
        this.server = server;
        this.name = name;
    }

    /** @return the object name used for device {@code id} */
    static ObjectName objectName(String id) throws JMException {
        return new ObjectName("com.vhost", java.util.Map.of("type", "Device", "name", ObjectName.quote(id)).entrySet()
                .stream().collect(java.util.stream.Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue,
                        (a, b) -> a, java.util.Hashtable::new)));
    }

    /** @return the registration, or null when JMX refused it (logged) */
    static DeviceMBeanRegistration register(ManagedDevice device) {
        String id = device.info().id();
        try {
            MBeanServer server = ManagementFactory.getPlatformMBeanServer();
            ObjectName name = objectName(id);
            if (server.isRegistered(name)) {
                server.unregisterMBean(name);
            }
            server.registerMBean(new javax.management.StandardMBean(new Stats(device), DeviceStatsMBean.class), name);
            return new DeviceMBeanRegistration(server, name);
        } catch (JMException | RuntimeException e) {
            LOG.warn("device {}: JMX registration failed: {}", id, e.toString());
            return null;
        }
    }

    void unregister() {
        try {
            server.unregisterMBean(name);
        } catch (JMException | RuntimeException e) {
            LOG.debug("unregistering {}: {}", name, e.toString());
        }
    }

    /** The MBean: reads the device on every attribute access. */
    static final class Stats implements DeviceStatsMBean {
        private final ManagedDevice device;

        Stats(ManagedDevice device) {
            this.device = device;
        }

        @Override
        public String getId() {
            return device.info().id();
        }

        @Override
        public String getStatus() {
            return device.info().status().name();
        }

        @Override
        public String getBackend() {
            return device.info().backendName();
        }

        @Override
        public String getTarget() {
            return device.info().target();
        }

        @Override
        public String getDetail() {
            return device.info().detail();
        }

        private long counter(String key) {
            return device.counters().getOrDefault(key, 0L);
        }

        @Override
        public long getRequests() {
            return counter("requests");
        }

        @Override
        public long getBytes() {
            return counter("bytes");
        }

        @Override
        public long getSwaps() {
            return counter("swaps");
        }

        @Override
        public long getLastPauseMicros() {
            return device.counters().getOrDefault("last.pause.us", -1L);
        }

        @Override
        public Map<String, Long> getCounters() {
            return device.counters();
        }
    }
}
