package com.vhost.devices.net.driver;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostBackend;
import com.vhost.api.VirtioDeviceException;
import java.lang.reflect.Proxy;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The registry's net factory: its type, the configuration keys, and bad configuration. */
class NetDriverFactoryTest {
    @Test
    void typeIsNet() {
        assertThat(new NetDriverFactory().deviceType()).isEqualTo("net");
    }

    @Test
    void optionsFromConfiguration() {
        NetDriverOptions o = NetDriverFactory.options(Map.of("queues", "2", "queue.size", 512, "rx.buffer.bytes", "1024",
                "poll", "true", "mrg.rxbuf", false, "mac", "02:00:00:00:00:01"));
        assertThat(o.queuePairs()).isEqualTo(2);
        assertThat(o.queueSize()).isEqualTo(512);
        assertThat(o.rxBufferBytes()).isEqualTo(1024);
        assertThat(o.poll()).isTrue();
        assertThat(o.mergeableRxBuffers()).isFalse();
        assertThat(NetMacs.format(o.mac())).isEqualTo("02:00:00:00:00:01");
        assertThat(NetDriverFactory.options(Map.of())).usingRecursiveComparison().isEqualTo(NetDriverOptions.defaults());
        assertThat(o.packed()).as("split by default").isFalse();
        assertThat(NetDriverFactory.options(Map.of("packed", "true")).packed()).isTrue();
        assertThat(NetDriverFactory.options(Map.of("packed", true)).withQueuePairs(3).packed()).isTrue();
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> NetDriverFactory.options(Map.of("packed", "maybe")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("packed");
    }

    @Test
    void badConfigurationClosesTheBackendAndNamesTheKey() {
        AtomicInteger closed = new AtomicInteger();
        VhostBackend backend = (VhostBackend) Proxy.newProxyInstance(VhostBackend.class.getClassLoader(),
                new Class<?>[] {VhostBackend.class}, (p, m, a) -> {
                    if (m.getName().equals("close")) {
                        closed.incrementAndGet();
                        return null;
                    }
                    throw new UnsupportedOperationException(m.getName());
                });
        assertThatThrownBy(() -> new NetDriverFactory().create(backend, Map.of("queues", "many")))
                .isInstanceOf(VirtioDeviceException.class).hasMessageContaining("'queues' = 'many' is not a number");
        assertThatThrownBy(() -> new NetDriverFactory().create(backend, Map.of("queue.size", "100")))
                .isInstanceOf(VirtioDeviceException.class).hasMessageContaining("queue size 100 is not a power of two");
        assertThatThrownBy(() -> new NetDriverFactory().create(backend, Map.of("mac", "nope")))
                .isInstanceOf(VirtioDeviceException.class).hasMessageContaining("'nope' is not a MAC address");
        assertThatThrownBy(() -> new NetDriverFactory().create(backend, Map.of("swap.wait.ms", -5)))
                .isInstanceOf(VirtioDeviceException.class).hasMessageContaining("'swap.wait.ms' = -5 is negative");
        assertThat(closed.get()).isEqualTo(4);
    }
}
