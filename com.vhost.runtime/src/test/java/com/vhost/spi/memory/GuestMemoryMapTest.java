package com.vhost.spi.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.virtio.GuestMemoryRegion;
import java.lang.foreign.Arena;
import java.util.List;
import org.junit.jupiter.api.Test;

class GuestMemoryMapTest {
    @Test
    void translatesAndBoundsChecks() {
        try (Arena a = Arena.ofConfined()) {
            GuestMemoryMap m = GuestMemoryMap.of(List.of(
                    new GuestMemoryRegion(0x10000, 0x1000, 0x7000_0000L, -1, 0, a.allocate(0x1000)),
                    new GuestMemoryRegion(0x0, 0x1000, 0x5000_0000L, -1, 0, a.allocate(0x1000))));
            assertThat(m.regions().get(0).guestAddr()).isZero();
            assertThat(m.contains(0xFF0, 0x10)).isTrue();
            assertThat(m.contains(0xFF0, 0x11)).isFalse();
            assertThat(m.contains(0x10000 + 0xFFF, 1)).isTrue();
            assertThat(m.contains(Long.MAX_VALUE, 2)).isFalse();
            assertThat(m.guestAddrOfUser(0x7000_0010L)).isEqualTo(0x10010);
            assertThat(m.userAddrOfGuest(0x20)).isEqualTo(0x5000_0020L);
            assertThat(m.slice(0x10000, 16).byteSize()).isEqualTo(16);
            assertThatThrownBy(() -> m.slice(0x2000, 1)).isInstanceOf(IndexOutOfBoundsException.class)
                    .hasMessageContaining("0x2000");
            assertThatThrownBy(() -> m.guestAddrOfUser(0x1234)).isInstanceOf(IndexOutOfBoundsException.class);
        }
    }

    @Test
    void rejectsOverlapAndShortMappings() {
        try (Arena a = Arena.ofConfined()) {
            assertThatThrownBy(() -> GuestMemoryMap.of(List.of(
                    new GuestMemoryRegion(0, 0x2000, 0, -1, 0, a.allocate(0x2000)),
                    new GuestMemoryRegion(0x1000, 0x1000, 0x10000, -1, 0, a.allocate(0x1000)))))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("overlap");
            assertThatThrownBy(() -> GuestMemoryMap.of(List.of(
                    new GuestMemoryRegion(0, 0x2000, 0, -1, 0, a.allocate(0x1000)))))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("smaller");
        }
    }
}
