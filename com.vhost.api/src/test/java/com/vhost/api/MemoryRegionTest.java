package com.vhost.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class MemoryRegionTest {
    @Test
    void rejectsRangesThatWrapPast2To64() {
        assertThatThrownBy(() -> new MemoryRegion(0xFFFF_FFFF_FFFF_F000L, 0x2000, 0, 0, -1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("wraps past 2^64");
        assertThatThrownBy(() -> new MemoryRegion(0, 0x2000, -0x1000L, 0, -1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("user range");
        assertThatThrownBy(() -> new MemoryRegion(0, 0, 0, 0, -1)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void acceptsTheTopOfTheAddressSpaceAndChecksContainment() {
        MemoryRegion top = new MemoryRegion(0xFFFF_FFFF_FFFF_F000L, 0x1000, 0x7000_0000L, 0, -1);
        assertThat(top.containsGuest(0xFFFF_FFFF_FFFF_FFFFL, 1)).isTrue();
        MemoryRegion r = new MemoryRegion(0x1000, 0x1000, 0x7000_0000L, 0, -1);
        assertThat(r.containsGuest(0x1000, 0x1000)).isTrue();
        assertThat(r.containsGuest(0x1FFF, 1)).isTrue();
        assertThat(r.containsGuest(0x1FFF, 2)).isFalse();
        assertThat(r.containsGuest(0xFFF, 1)).isFalse();
        assertThat(r.containsGuest(0x1000, -1)).isFalse();
    }
}
