package com.vhost.devices.net.model;

import static com.vhost.spi.driver.ConfigValues.bool;
import static com.vhost.spi.driver.ConfigValues.number;

import com.vhost.api.VhostException;
import com.vhost.api.backend.DeviceModel;
import com.vhost.api.backend.DeviceModelFactory;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.devices.net.driver.NetMacs;
import java.util.LinkedHashMap;
import java.util.Map;
import org.osgi.service.component.annotations.Component;

/**
 * Makes virtio-net models for the vhost-user back-end server: {@link TapNetModel} when
 * {@code tap} names a host TAP interface (one queue pair), else {@link LoopbackNetModel} (frames
 * come back on the pair they were sent on). Configuration ({@link DeviceConfigKeys}):
 * {@code queues} (queue pairs, loopback only; default 1), {@code queue.size} (largest ring
 * accepted, default 256), {@code mac} (default {@value #DEFAULT_MAC}), {@code mtu} (default 1500),
 * {@code poll} (the worker busy-polls the transmit queues; default false).
 */
@Component(service = DeviceModelFactory.class, property = DeviceModelFactory.DEVICE_TYPE + "=net")
public final class NetModelFactory implements DeviceModelFactory {
    /** MAC address offered when {@code mac} is absent. */
    public static final String DEFAULT_MAC = "52:54:00:12:34:56";
    /** Largest ring accepted when {@code queue.size} is absent. */
    public static final int DEFAULT_QUEUE_SIZE = 256;
    /** MTU offered when {@code mtu} is absent. */
    public static final int DEFAULT_MTU = 1500;

    @Override
    public String deviceType() {
        return "net";
    }

    @Override
    public DeviceModel create(Map<String, Object> config) throws VhostException {
        int pairs = (int) number(config, DeviceConfigKeys.QUEUES, 1);
        int queueSize = (int) number(config, DeviceConfigKeys.QUEUE_SIZE, DEFAULT_QUEUE_SIZE);
        Object macValue = config.get(DeviceConfigKeys.MAC);
        String mac = macValue == null ? DEFAULT_MAC : macValue.toString();
        int mtu = (int) number(config, DeviceConfigKeys.MTU, DEFAULT_MTU);
        boolean poll = bool(config, DeviceConfigKeys.POLL, false);
        Object tap = config.get(DeviceConfigKeys.TAP);
        AbstractNetModel model;
        String what;
        if (tap != null) {
            if (pairs != 1) {
                throw new IllegalArgumentException("net model: a TAP model has 1 queue pair, '" + DeviceConfigKeys.QUEUES + "' = "
                        + pairs);
            }
            model = new TapNetModel(tap.toString(), queueSize, NetMacs.parse(mac), mtu);
            what = "TAP " + tap;
        } else {
            model = new LoopbackNetModel(pairs, queueSize, NetMacs.parse(mac), mtu);
            what = "loopback";
        }
        model.setPolling(poll);
        String describe = "virtio-net " + what + ", " + pairs + " queue pair(s) of " + queueSize + ", MAC " + mac + ", MTU " + mtu
                + (poll ? ", polling" : "");
        return new Model(model, pairs, describe, java.util.Collections.unmodifiableMap(new java.util.HashMap<>(config)));
    }

    private record Model(AbstractNetModel device, int pairs, String describe, Map<String, Object> configuration) implements DeviceModel {
        @Override
        public String report() {
            StringBuilder b = new StringBuilder();
            for (int p = 0; p < pairs; p++) {
                b.append("pair ").append(p).append(": ").append(device.counters(p)).append('\n');
            }
            return b.toString();
        }

        @Override
        public Map<String, Long> counters() {
            Map<String, Long> m = new LinkedHashMap<>();
            for (int p = 0; p < pairs; p++) {
                NetPortCounters c = device.counters(p);
                String k = "pair." + p + ".";
                m.put(k + "tx.packets", c.txPackets());
                m.put(k + "tx.bytes", c.txBytes());
                m.put(k + "tx.errors", c.txErrors());
                m.put(k + "rx.packets", c.rxPackets());
                m.put(k + "rx.bytes", c.rxBytes());
                m.put(k + "rx.no.buffer", c.rxNoBuffer());
                m.put(k + "rx.too.big", c.rxTooBig());
            }
            return m;
        }

        @Override
        public void close() {
            device.close();
        }
    }
}
