package com.vhost.api.virtio;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.EnumSet;
import org.junit.jupiter.api.Test;

class DeviceStatusTest {
    @Test
    void bitsKeepTheirWireValues() {
        assertThat(DeviceStatus.ACKNOWLEDGE.bit()).isEqualTo(1);
        assertThat(DeviceStatus.DRIVER.bit()).isEqualTo(2);
        assertThat(DeviceStatus.DRIVER_OK.bit()).isEqualTo(4);
        assertThat(DeviceStatus.FEATURES_OK.bit()).isEqualTo(8);
        assertThat(DeviceStatus.DEVICE_NEEDS_RESET.bit()).isEqualTo(64);
        assertThat(DeviceStatus.FAILED.bit()).isEqualTo(128);
    }

    @Test
    void maskAndSetRoundTrip() {
        int s = DeviceStatus.mask(DeviceStatus.ACKNOWLEDGE, DeviceStatus.DRIVER, DeviceStatus.FEATURES_OK);
        assertThat(s).isEqualTo(11);
        assertThat(DeviceStatus.of(s)).containsExactly(DeviceStatus.ACKNOWLEDGE, DeviceStatus.DRIVER, DeviceStatus.FEATURES_OK);
        assertThat(DeviceStatus.mask(EnumSet.of(DeviceStatus.DRIVER_OK))).isEqualTo(4);
        assertThat(DeviceStatus.mask()).isZero();
        assertThat(DeviceStatus.of(0x30)).as("reserved bits 4 and 5 ignored").isEmpty();
        assertThat(DeviceStatus.FEATURES_OK.in(s)).isTrue();
        assertThat(DeviceStatus.DRIVER_OK.in(s)).isFalse();
    }
}
