package com.vhost.spi.driver;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostBackendType;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.virtio.VirtioDeviceType;
import com.vhost.spi.testing.RecordingBackend;
import com.vhost.spi.vhost.GenericVhostDevice;
import org.junit.jupiter.api.Test;

/** The drivers' open: the driver gets the device, and nothing opened outlives a failure. */
class VhostDriversTest {
    @Test
    void startsTheDriverOnADeviceWithTheQueuesAsked() throws Exception {
        RecordingBackend b = RecordingBackend.of(VhostBackendType.USER, 0, 0);
        b.deviceId = VirtioDeviceType.BLOCK.id();
        GenericVhostDevice v = VhostDrivers.open(b, VirtioDeviceType.BLOCK, 1, vhost -> vhost);
        assertThat(v.backend()).isSameAs(b);
        assertThat(v.numQueues()).isEqualTo(1);
        assertThat(b.log).startsWith("SET_OWNER").doesNotContain("CLOSE");
        v.close();
    }

    @Test
    void aBackendOfAnotherTypeIsClosedAndNamed() {
        RecordingBackend b = RecordingBackend.of(VhostBackendType.USER, 0, 0);
        b.deviceId = VirtioDeviceType.NET.id();
        assertThatThrownBy(() -> VhostDrivers.open(b, VirtioDeviceType.BLOCK, 1, vhost -> vhost))
                .isInstanceOf(VhostFeatureException.class).hasMessageContaining("not virtio-blk");
        assertThat(b.log).containsExactly("CLOSE");
    }

    @Test
    void aDeviceThatCannotBeMadeClosesTheBackend() {
        RecordingBackend b = RecordingBackend.of(VhostBackendType.USER, 0, 0);
        assertThatThrownBy(() -> VhostDrivers.open(b, VirtioDeviceType.BLOCK, 3, vhost -> vhost))
                .isInstanceOf(VhostFeatureException.class).hasMessageContaining("3 queues wanted");
        assertThat(b.log).endsWith("CLOSE");
        assertThat(b.isConnected()).isFalse();
    }

    @Test
    void aDriverThatFailsToStartClosesTheDeviceAndTheBackend() {
        RecordingBackend b = RecordingBackend.of(VhostBackendType.USER, 0, 0);
        assertThatThrownBy(() -> VhostDrivers.open(b, VirtioDeviceType.BLOCK, 1, vhost -> {
            throw new VirtioDeviceException("geometry unusable");
        })).isInstanceOf(VirtioDeviceException.class).hasMessage("geometry unusable");
        assertThat(b.log).startsWith("SET_OWNER").endsWith("CLOSE");
        assertThat(b.isConnected()).isFalse();
    }
}
