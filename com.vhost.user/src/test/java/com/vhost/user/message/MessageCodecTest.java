package com.vhost.user.message;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.IotlbMessage;
import com.vhost.api.MemoryRegion;
import com.vhost.api.VhostProtocolException;
import com.vhost.api.VringAddr;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class MessageCodecTest {
    private final MemorySegment buf = MemorySegment.ofArray(new byte[MessageHeader.SIZE + MessageHeader.MAX_PAYLOAD_SIZE]);

    @Test
    void frontendRequestCodesRoundTripAndUnknownCodesAreRejected() throws Exception {
        assertThat(FrontendRequest.values()).hasSize(44);
        for (FrontendRequest r : FrontendRequest.values()) {
            assertThat(FrontendRequest.fromCode(r.code())).isSameAs(r);
        }
        assertThat(FrontendRequest.SET_VRING_ADDR.code()).isEqualTo(9);
        assertThat(FrontendRequest.GET_MAX_MEM_SLOTS.code()).isEqualTo(36);
        assertThat(FrontendRequest.GET_SHMEM_CONFIG.code()).isEqualTo(44);
        for (int bad : new int[] {0, 45, -1, 1000}) {
            assertThatThrownBy(() -> FrontendRequest.fromCode(bad))
                    .isInstanceOf(VhostProtocolException.class)
                    .hasMessageContaining("unknown front-end request code " + Integer.toUnsignedString(bad));
        }
    }

    @Test
    void backendRequestCodes() throws Exception {
        assertThat(BackendRequest.values()).hasSize(10);
        assertThat(BackendRequest.fromCode(2)).isEqualTo(BackendRequest.CONFIG_CHANGE_MSG);
        assertThat(BackendRequest.fromCode(10)).isEqualTo(BackendRequest.SHMEM_UNMAP);
        assertThatThrownBy(() -> BackendRequest.fromCode(11)).isInstanceOf(VhostProtocolException.class)
                .hasMessageContaining("11");
    }

    @Test
    void headerRoundTripsWithFlags() throws Exception {
        MessageHeader h = MessageHeader.request(FrontendRequest.SET_VRING_NUM.code(), 8, true);
        h.encode(buf, 0);
        MessageHeader d = MessageHeader.decode(buf, 0);
        assertThat(d).isEqualTo(h);
        assertThat(d.needsReply()).isTrue();
        assertThat(d.isReply()).isFalse();
        assertThat(d.flags()).isEqualTo(0x9);

        MessageHeader r = MessageHeader.reply(1, 8);
        r.encode(buf, 0);
        assertThat(MessageHeader.decode(buf, 0).isReply()).isTrue();
        assertThat(MessageHeader.decode(buf, 0).flags()).isEqualTo(0x5);
        // native endian: the request code is the first u32 in host order
        assertThat(buf.get(Wire.U32, 0)).isEqualTo(1);
    }

    @Test
    void headerRejectsBadVersionReservedFlagsAndOversize() {
        new MessageHeader(1, 0x2, 0).encode(buf, 0);
        assertThatThrownBy(() -> MessageHeader.decode(buf, 0)).isInstanceOf(VhostProtocolException.class)
                .hasMessageContaining("version 2");
        new MessageHeader(1, 0x0, 0).encode(buf, 0);
        assertThatThrownBy(() -> MessageHeader.decode(buf, 0)).hasMessageContaining("version 0");
        new MessageHeader(1, 0x11, 0).encode(buf, 0);
        assertThatThrownBy(() -> MessageHeader.decode(buf, 0)).isInstanceOf(VhostProtocolException.class)
                .hasMessageContaining("reserved flag bits").hasMessageContaining("0x11");
        new MessageHeader(1, 0x80000001, 0).encode(buf, 0);
        assertThatThrownBy(() -> MessageHeader.decode(buf, 0)).hasMessageContaining("reserved");
        new MessageHeader(5, 1, 0x1001).encode(buf, 0);
        assertThatThrownBy(() -> MessageHeader.decode(buf, 0)).isInstanceOf(VhostProtocolException.class)
                .hasMessageContaining("payload size 4097");
        new MessageHeader(5, 1, -1).encode(buf, 0);
        assertThatThrownBy(() -> MessageHeader.decode(buf, 0)).hasMessageContaining("4294967295");
    }

    @Test
    void u64AndVringStateRoundTripAndRejectBadSize() throws Exception {
        int n = new U64Payload(0x1_0000_4000L).encode(buf, 12);
        assertThat(U64Payload.decode("GET_FEATURES", buf, 12, n).value()).isEqualTo(0x1_0000_4000L);
        assertThatThrownBy(() -> U64Payload.decode("GET_FEATURES", buf, 12, 4))
                .isInstanceOf(VhostProtocolException.class).hasMessage("GET_FEATURES: payload size 4 bytes, expected 8");

        VringState s = new VringState(1, 256);
        assertThat(VringState.decode("SET_VRING_NUM", buf, 12, s.encode(buf, 12))).isEqualTo(s);
        assertThatThrownBy(() -> VringState.decode("SET_VRING_NUM", buf, 12, 12)).hasMessageContaining("SET_VRING_NUM");
    }

    @Test
    void vringAddrRoundTripsAndRejectsMisalignedRings() throws Exception {
        VringAddr a = new VringAddr(1, VringAddr.F_LOG, 0x7f00_0000_1000L, 0x7f00_0000_3000L, 0x7f00_0000_2000L, 0x3000);
        int n = VringAddrPayload.encode(a, buf, 12);
        assertThat(n).isEqualTo(40);
        assertThat(VringAddrPayload.decode(buf, 12, n)).isEqualTo(a);

        VringAddr badDesc = new VringAddr(1, 0, 0x1008, 0x3000, 0x2000, 0);
        assertThatThrownBy(() -> VringAddrPayload.encode(badDesc, buf, 12)).isInstanceOf(VhostProtocolException.class)
                .hasMessageContaining("queue 1").hasMessageContaining("descriptor table 0x1008 not 16-byte aligned");
        // write a misaligned used ring on the wire directly and decode it
        VringAddrPayload.encode(a, buf, 12);
        buf.set(Wire.U64, 12 + 16, 0x3002L);
        assertThatThrownBy(() -> VringAddrPayload.decode(buf, 12, 40)).hasMessageContaining("used ring 0x3002 not 4-byte aligned");
        VringAddrPayload.encode(a, buf, 12);
        buf.set(Wire.U64, 12 + 24, 0x2001L);
        assertThatThrownBy(() -> VringAddrPayload.decode(buf, 12, 40)).hasMessageContaining("available ring 0x2001 not 2-byte aligned");
        VringAddrPayload.encode(a, buf, 12);
        buf.set(Wire.U32, 12 + 4, 0x2);
        assertThatThrownBy(() -> VringAddrPayload.decode(buf, 12, 40)).hasMessageContaining("unknown flags 0x2");
        assertThatThrownBy(() -> VringAddrPayload.decode(buf, 12, 32)).hasMessageContaining("expected 40");
    }

    @Test
    void memTableRoundTripsAndRejectsTooManyRegionsPaddingAndOverflow() throws Exception {
        List<MemRegionPayload> regions = List.of(
                new MemRegionPayload(0, 0x10_0000, 0x7f00_0000_0000L, 0),
                new MemRegionPayload(0x10_0000, 0x20_0000, 0x7f10_0000_0000L, 0x1000));
        MemTablePayload t = new MemTablePayload(regions);
        int n = t.encode(buf, 12);
        assertThat(n).isEqualTo(8 + 64);
        assertThat(MemTablePayload.decode(buf, 12, n)).isEqualTo(t);
        assertThat(regions.get(1).toRegion(7)).isEqualTo(new MemoryRegion(0x10_0000, 0x20_0000, 0x7f10_0000_0000L, 0x1000, 7));

        // nregions > 8
        buf.set(Wire.U32, 12, 9);
        assertThatThrownBy(() -> MemTablePayload.decode(buf, 12, MemTablePayload.sizeFor(9)))
                .isInstanceOf(VhostProtocolException.class).hasMessageContaining("nregions 9 exceeds 8");
        List<MemRegionPayload> nine = new ArrayList<>();
        for (int i = 0; i < 9; i++) {
            nine.add(new MemRegionPayload(i * 0x1000L, 0x1000, 0x1000L * i, 0));
        }
        assertThatThrownBy(() -> new MemTablePayload(nine).encode(buf, 12)).hasMessageContaining("9 regions");

        // padding
        t.encode(buf, 12);
        buf.set(Wire.U32, 16, 1);
        assertThatThrownBy(() -> MemTablePayload.decode(buf, 12, n)).hasMessageContaining("padding");
        // size mismatch
        t.encode(buf, 12);
        assertThatThrownBy(() -> MemTablePayload.decode(buf, 12, n + 32)).hasMessageContaining("expected 72");
        assertThatThrownBy(() -> MemTablePayload.decode(buf, 12, 4)).hasMessageContaining("shorter");
        // overflow of user_addr + size
        t.encode(buf, 12);
        buf.set(Wire.U64, 12 + 8 + 16, Long.MAX_VALUE - 10);
        assertThatThrownBy(() -> MemTablePayload.decode(buf, 12, n)).isInstanceOf(VhostProtocolException.class)
                .hasMessageContaining("region 0").hasMessageContaining("user address").hasMessageContaining("overflows");
        // zero size
        t.encode(buf, 12);
        buf.set(Wire.U64, 12 + 8 + 32 + 8, 0L);
        assertThatThrownBy(() -> MemTablePayload.decode(buf, 12, n)).hasMessageContaining("region 1").hasMessageContaining("size 0");
    }

    @Test
    void singleMemRegionRoundTripsAndChecksPadding() throws Exception {
        SingleMemRegionPayload p = new SingleMemRegionPayload(new MemRegionPayload(0x1000, 0x2000, 0x5000, 0));
        int n = p.encode(buf, 12);
        assertThat(n).isEqualTo(40);
        assertThat(SingleMemRegionPayload.decode("ADD_MEM_REG", buf, 12, n)).isEqualTo(p);
        buf.set(Wire.U64, 12, 3L);
        assertThatThrownBy(() -> SingleMemRegionPayload.decode("ADD_MEM_REG", buf, 12, n))
                .hasMessageContaining("ADD_MEM_REG: padding is 0x3");
        assertThatThrownBy(() -> SingleMemRegionPayload.decode("REM_MEM_REG", buf, 12, 32)).hasMessageContaining("REM_MEM_REG");
    }

    @Test
    void configRoundTripsAndRejectsOversizeAndOutOfRange() throws Exception {
        ConfigPayload c = new ConfigPayload(4, 0, new byte[] {1, 2, 3, 4, 5});
        int n = c.encode(buf, 12);
        assertThat(n).isEqualTo(17);
        ConfigPayload d = ConfigPayload.decode("GET_CONFIG", buf, 12, n);
        assertThat(d.offset()).isEqualTo(4);
        assertThat(d.data()).containsExactly(1, 2, 3, 4, 5);

        assertThatThrownBy(() -> new ConfigPayload(0, 0, new byte[257]).encode(buf, 12)).hasMessageContaining("size 257 exceeds 256");
        assertThatThrownBy(() -> new ConfigPayload(250, 0, new byte[8]).encode(buf, 12)).hasMessageContaining("offset 250 + size 8");
        c.encode(buf, 12);
        buf.set(Wire.U32, 16, 300); // size field
        assertThatThrownBy(() -> ConfigPayload.decode("SET_CONFIG", buf, 12, 312)).isInstanceOf(VhostProtocolException.class)
                .hasMessageContaining("SET_CONFIG: config size 300 exceeds 256");
        c.encode(buf, 12);
        assertThatThrownBy(() -> ConfigPayload.decode("GET_CONFIG", buf, 12, n - 1)).hasMessageContaining("expected 17");
        assertThatThrownBy(() -> ConfigPayload.decode("GET_CONFIG", buf, 12, 8)).hasMessageContaining("shorter");
        c.encode(buf, 12);
        buf.set(Wire.U32, 20, 0x4);
        assertThatThrownBy(() -> ConfigPayload.decode("GET_CONFIG", buf, 12, n)).hasMessageContaining("unknown config flags 0x4");
    }

    @Test
    void inflightDeviceStateVringFileLogAndIotlb() throws Exception {
        InflightPayload in = new InflightPayload(0x3000, 0, 2, 256);
        assertThat(InflightPayload.decode("GET_INFLIGHT_FD", buf, 12, in.encode(buf, 12))).isEqualTo(in);
        buf.set(Wire.U64, 20, Long.MAX_VALUE);
        assertThatThrownBy(() -> InflightPayload.decode("SET_INFLIGHT_FD", buf, 12, 24)).hasMessageContaining("overflows");

        DeviceStatePayload ds = new DeviceStatePayload(DeviceStatePayload.LOAD, DeviceStatePayload.PHASE_STOPPED);
        assertThat(DeviceStatePayload.decode(buf, 12, ds.encode(buf, 12))).isEqualTo(ds);
        buf.set(Wire.U32, 12, 2);
        assertThatThrownBy(() -> DeviceStatePayload.decode(buf, 12, 8)).hasMessageContaining("direction 2");
        buf.set(Wire.U32, 12, 0);
        buf.set(Wire.U32, 16, 1);
        assertThatThrownBy(() -> DeviceStatePayload.decode(buf, 12, 8)).hasMessageContaining("phase 1");

        VringFilePayload f = new VringFilePayload(3, true);
        f.encode(buf, 12);
        assertThat(buf.get(Wire.U64, 12)).isEqualTo(0x103L);
        assertThat(VringFilePayload.decode("SET_VRING_KICK", buf, 12, 8)).isEqualTo(f);
        buf.set(Wire.U64, 12, 0x203L);
        assertThatThrownBy(() -> VringFilePayload.decode("SET_VRING_CALL", buf, 12, 8)).isInstanceOf(VhostProtocolException.class)
                .hasMessageContaining("SET_VRING_CALL: reserved bits").hasMessageContaining("0x203");

        LogPayload lp = new LogPayload(0x1000, 0);
        assertThat(LogPayload.decode(buf, 12, lp.encode(buf, 12))).isEqualTo(lp);

        IotlbMessage m = new IotlbMessage(0x1000, 0x2000, 0x7000, IotlbMessage.PERM_RW, IotlbMessage.UPDATE);
        assertThat(IotlbPayload.decode(buf, 12, IotlbPayload.encode(m, buf, 12))).isEqualTo(m);
        buf.set(java.lang.foreign.ValueLayout.JAVA_BYTE, 12 + 25, (byte) 9);
        assertThatThrownBy(() -> IotlbPayload.decode(buf, 12, 32)).hasMessageContaining("unknown type 9");
    }
}
