package com.vhost.api.user;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class DeviceStateTypesTest {
    @Test
    void directionAndPhaseKeepTheSpecsWireValues() {
        assertThat(DeviceStateDirection.SAVE.code()).isZero();
        assertThat(DeviceStateDirection.LOAD.code()).isEqualTo(1);
        assertThat(DeviceStatePhase.STOPPED.code()).isZero();
        assertThat(DeviceStateDirection.fromCode(1)).isEqualTo(DeviceStateDirection.LOAD);
        assertThat(DeviceStatePhase.fromCode(0)).isEqualTo(DeviceStatePhase.STOPPED);
        assertThatThrownBy(() -> DeviceStateDirection.fromCode(2)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("unknown device state direction 2");
        assertThatThrownBy(() -> DeviceStatePhase.fromCode(-1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("unknown device state phase 4294967295");
    }

    @Test
    void protocolFeatureBitsAreTheSpecs() {
        assertThat(VhostUserProtocolFeature.DEVICE_STATE.bit()).isEqualTo(19);
        assertThat(VhostUserProtocolFeature.describe(VhostUserProtocolFeature.MQ.mask() | 1L << 40)).isEqualTo("MQ|0x10000000000");
    }
}
