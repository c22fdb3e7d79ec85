package com.vhost.spi.ioctl;

import static com.vhost.spi.ioctl.VhostIoctl.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** The encoder against the literal values stated in public code (see VHOST-FACTS.md). */
class VhostIoctlTest {
    @Test
    void matchesTheLiteralsOfPublicHeaders() {
        assertThat(VHOST_GET_FEATURES).isEqualTo(0x8008AF00L);
        assertThat(VHOST_SET_FEATURES).isEqualTo(0x4008AF00L);
        assertThat(VHOST_SET_OWNER).isEqualTo(0xAF01L);
        assertThat(VHOST_RESET_OWNER).isEqualTo(0xAF02L);
        assertThat(VHOST_SET_MEM_TABLE).isEqualTo(0x4008AF03L);
        assertThat(VHOST_SET_LOG_BASE).isEqualTo(0x4008AF04L);
        assertThat(VHOST_SET_LOG_FD).isEqualTo(0x4004AF07L);
        assertThat(VHOST_SET_VRING_NUM).isEqualTo(0x4008AF10L);
        assertThat(VHOST_SET_VRING_ADDR).isEqualTo(0x4028AF11L);
        assertThat(VHOST_SET_VRING_BASE).isEqualTo(0x4008AF12L);
        assertThat(VHOST_SET_VRING_KICK).isEqualTo(0x4008AF20L);
        assertThat(VHOST_SET_VRING_CALL).isEqualTo(0x4008AF21L);
        assertThat(VHOST_NET_SET_BACKEND).isEqualTo(0x4008AF30L);
    }

    @Test
    void matchesTheDerivedValues() {
        assertThat(VHOST_GET_VRING_BASE).isEqualTo(0xC008AF12L);
        assertThat(VHOST_SET_VRING_ERR).isEqualTo(0x4008AF22L);
        assertThat(VHOST_SET_BACKEND_FEATURES).isEqualTo(0x4008AF25L);
        assertThat(VHOST_GET_BACKEND_FEATURES).isEqualTo(0x8008AF26L);
        assertThat(VHOST_VDPA_GET_DEVICE_ID).isEqualTo(0x8004AF70L);
        assertThat(VHOST_VDPA_GET_STATUS).isEqualTo(0x8001AF71L);
        assertThat(VHOST_VDPA_SET_STATUS).isEqualTo(0x4001AF72L);
        assertThat(VHOST_VDPA_GET_CONFIG).isEqualTo(0x8008AF73L);
        assertThat(VHOST_VDPA_SET_CONFIG).isEqualTo(0x4008AF74L);
        assertThat(VHOST_VDPA_SET_VRING_ENABLE).isEqualTo(0x4008AF75L);
        assertThat(VHOST_VDPA_GET_VRING_NUM).isEqualTo(0x8002AF76L);
        assertThat(VHOST_VDPA_SET_CONFIG_CALL).isEqualTo(0x4004AF77L);
        assertThat(VHOST_VDPA_GET_IOVA_RANGE).isEqualTo(0x8010AF78L);
        assertThat(VHOST_VDPA_GET_CONFIG_SIZE).isEqualTo(0x8004AF79L);
        assertThat(VHOST_VDPA_GET_AS_NUM).isEqualTo(0x8004AF7AL);
        assertThat(VHOST_VDPA_GET_VRING_GROUP).isEqualTo(0xC008AF7BL);
        assertThat(VHOST_VDPA_SET_GROUP_ASID).isEqualTo(0x4008AF7CL);
        assertThat(VHOST_VDPA_SUSPEND).isEqualTo(0xAF7DL);
        assertThat(VHOST_VDPA_RESUME).isEqualTo(0xAF7EL);
        assertThat(VHOST_VDPA_GET_VQS_COUNT).isEqualTo(0x8004AF80L);
    }

    @Test
    void rejectsFieldsThatDoNotFit() {
        assertThatThrownBy(() -> ioc(4, 0xAF, 0, 0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ioc(1, 0xAF, 0, 0x4000)).isInstanceOf(IllegalArgumentException.class);
    }
}
