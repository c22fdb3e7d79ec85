package com.vhost.spi.driver;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.DeviceStateBackend;
import com.vhost.api.VhostBackendType;
import com.vhost.api.VhostFeatureException;
import com.vhost.spi.testing.RecordingBackend;
import com.vhost.spi.vhost.GenericVhostDevice;
import org.junit.jupiter.api.Test;

/** The drivers' device-state entry reaches a backend only through the API capability. */
class DeviceStateTransferTest {
    static final long VERSION_1 = 1L << 32;

    @Test
    void aBackendWithoutTheCapabilityMovesNothingAndIsRefusedByName() throws Exception {
        RecordingBackend kernel = RecordingBackend.of(VhostBackendType.KERNEL, VERSION_1, 0);
        RecordingBackend user = RecordingBackend.of(VhostBackendType.USER, VERSION_1, 0);
        try (GenericVhostDevice k = new GenericVhostDevice(kernel, 1); GenericVhostDevice u = new GenericVhostDevice(user, 1)) {
            assertThat(DeviceStateTransfer.supported(k)).as("vhost-net has no device state").isFalse();
            assertThat(DeviceStateTransfer.supported(u)).as("vhost-user without DEVICE_STATE").isFalse();
            assertThat(DeviceStateTransfer.carry(u, k, 100)).isEqualTo(-1);
            assertThat(DeviceStateTransfer.carry(u, u, 100)).isEqualTo(-1);
            assertThatThrownBy(() -> DeviceStateTransfer.save(kernel, 100)).isInstanceOf(VhostFeatureException.class)
                    .hasMessage("device state SAVE: recording:kernel has no device-state transfer");
            assertThatThrownBy(() -> DeviceStateTransfer.load(kernel, new byte[1], 100)).isInstanceOf(VhostFeatureException.class)
                    .hasMessageContaining("LOAD");
        }
        assertThat(DeviceStateBackend.MAX_STATE_BYTES).isEqualTo(DeviceStateTransfer.MAX_STATE_BYTES).isEqualTo(1 << 20);
    }
}
