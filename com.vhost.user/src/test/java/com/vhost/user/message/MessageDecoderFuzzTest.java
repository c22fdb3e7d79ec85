package com.vhost.user.message;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.vhost.api.IotlbMessage;
import com.vhost.api.VhostProtocolException;
import com.vhost.api.VringAddr;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * Fuzz target 1 of issue #10 ("hostile front-ends"): the vhost-user message codec. The input's
 * first 12 bytes are a message header, the rest its payload; the payload is handed to every payload
 * decoder in a segment of exactly the header's {@code size} bytes, so a decoder that reads past
 * the size it was given fails with {@link IndexOutOfBoundsException} instead of reading a stale
 * message's bytes.
 *
 * <p>Oracle: each decoder returns a value or throws {@link VhostProtocolException}, nothing else
 * (any other throwable is a finding); what decodes encodes back to the same bytes' meaning (decode
 * → encode → decode is equal), so the encoder accepts everything the decoder does.
 *
 * <p>Regression mode (the plain test run) replays the seeds under
 * {@code src/test/resources/com/vhost/user/message/MessageDecoderFuzzTestInputs}; fuzzing mode
 * ({@code JAZZER_FUZZ=1}, the {@code fuzz-message} execution of this module's build and
 * {@code scripts/fuzz.sh}) mutates them.
 */
class MessageDecoderFuzzTest {
    private static final MemorySegment OUT = Arena.global().allocate(MessageHeader.MAX_PAYLOAD_SIZE);

    @FuzzTest(maxDuration = "5m", maxExecutions = 20_000)
    void decodeEveryPayloadKind(byte[] input) throws Exception {
        decodeMessage(input);
    }

    /** The target's body, shared with the plain regression tests of findings. */
    static void decodeMessage(byte[] input) throws Exception {
        if (input.length < MessageHeader.SIZE) {
            return;
        }
        MessageHeader h;
        try {
            h = MessageHeader.decode(MemorySegment.ofArray(Arrays.copyOf(input, MessageHeader.SIZE)), 0);
        } catch (VhostProtocolException e) {
            assertThat(e).hasMessageStartingWith("message header");
            return;
        }
        try {
            FrontendRequest.fromCode(h.request());
        } catch (VhostProtocolException expected) {
            // an unknown code is refused by name
        }
        try {
            BackendRequest.fromCode(h.request());
        } catch (VhostProtocolException expected) {
            // likewise on the back-end channel
        }
        int size = h.size();
        MemorySegment p = MemorySegment.ofArray(Arrays.copyOfRange(input, MessageHeader.SIZE, MessageHeader.SIZE + size));
        assertThat(p.byteSize()).isEqualTo(size);
        u64(p, size);
        vringState(p, size);
        vringFile(p, size);
        vringAddr(p, size);
        memTable(p, size);
        singleRegion(p, size);
        config(p, size);
        deviceState(p, size);
        inflight(p, size);
        log(p, size);
        iotlb(p, size);
    }

    private static void u64(MemorySegment p, int size) throws VhostProtocolException {
        try {
            U64Payload v = U64Payload.decode("SET_FEATURES", p, 0, size);
            int n = v.encode(OUT, 0);
            assertThat(U64Payload.decode("SET_FEATURES", OUT, 0, n)).isEqualTo(v);
        } catch (VhostProtocolException expected) {
            assertThat(expected).hasMessageContaining("SET_FEATURES");
        }
    }

    private static void vringState(MemorySegment p, int size) throws VhostProtocolException {
        try {
            VringState v = VringState.decode("SET_VRING_BASE", p, 0, size);
            int n = v.encode(OUT, 0);
            assertThat(VringState.decode("SET_VRING_BASE", OUT, 0, n)).isEqualTo(v);
        } catch (VhostProtocolException expected) {
            assertThat(expected).hasMessageContaining("SET_VRING_BASE");
        }
    }

    private static void vringFile(MemorySegment p, int size) throws VhostProtocolException {
        try {
            VringFilePayload v = VringFilePayload.decode("SET_VRING_KICK", p, 0, size);
            int n = v.encode(OUT, 0);
            assertThat(VringFilePayload.decode("SET_VRING_KICK", OUT, 0, n)).isEqualTo(v);
        } catch (VhostProtocolException expected) {
            assertThat(expected).hasMessageContaining("SET_VRING_KICK");
        }
    }

    private static void vringAddr(MemorySegment p, int size) throws VhostProtocolException {
        try {
            VringAddr v = VringAddrPayload.decode(p, 0, size);
            int n = VringAddrPayload.encode(v, OUT, 0);
            assertThat(VringAddrPayload.decode(OUT, 0, n)).isEqualTo(v);
        } catch (VhostProtocolException expected) {
            assertThat(expected).hasMessageContaining("SET_VRING_ADDR");
        }
    }

    private static void memTable(MemorySegment p, int size) throws VhostProtocolException {
        try {
            MemTablePayload v = MemTablePayload.decode(p, 0, size);
            int n = v.encode(OUT, 0);
            assertThat(n).isEqualTo(size);
            assertThat(MemTablePayload.decode(OUT, 0, n)).isEqualTo(v);
        } catch (VhostProtocolException expected) {
            assertThat(expected).hasMessageContaining("SET_MEM_TABLE");
        }
    }

    private static void singleRegion(MemorySegment p, int size) throws VhostProtocolException {
        try {
            SingleMemRegionPayload v = SingleMemRegionPayload.decode("ADD_MEM_REG", p, 0, size);
            int n = v.encode(OUT, 0);
            assertThat(SingleMemRegionPayload.decode("ADD_MEM_REG", OUT, 0, n)).isEqualTo(v);
        } catch (VhostProtocolException expected) {
            assertThat(expected).hasMessageContaining("ADD_MEM_REG");
        }
    }

    private static void config(MemorySegment p, int size) throws VhostProtocolException {
        try {
            ConfigPayload v = ConfigPayload.decode("GET_CONFIG", p, 0, size);
            int n = v.encode(OUT, 0);
            assertThat(n).isEqualTo(size);
            ConfigPayload again = ConfigPayload.decode("GET_CONFIG", OUT, 0, n);
            assertThat(again.offset()).isEqualTo(v.offset());
            assertThat(again.flags()).isEqualTo(v.flags());
            assertThat(again.data()).isEqualTo(v.data());
        } catch (VhostProtocolException expected) {
            assertThat(expected).hasMessageContaining("GET_CONFIG");
        }
    }

    private static void deviceState(MemorySegment p, int size) throws VhostProtocolException {
        try {
            DeviceStatePayload v = DeviceStatePayload.decode(p, 0, size);
            int n = v.encode(OUT, 0);
            assertThat(DeviceStatePayload.decode(OUT, 0, n)).isEqualTo(v);
        } catch (VhostProtocolException expected) {
            assertThat(expected.getMessage()).isNotBlank();
        }
    }

    private static void inflight(MemorySegment p, int size) throws VhostProtocolException {
        try {
            InflightPayload v = InflightPayload.decode("GET_INFLIGHT_FD", p, 0, size);
            int n = v.encode(OUT, 0);
            assertThat(InflightPayload.decode("GET_INFLIGHT_FD", OUT, 0, n)).isEqualTo(v);
        } catch (VhostProtocolException expected) {
            assertThat(expected).hasMessageContaining("GET_INFLIGHT_FD");
        }
    }

    private static void log(MemorySegment p, int size) throws VhostProtocolException {
        try {
            LogPayload v = LogPayload.decode(p, 0, size);
            int n = v.encode(OUT, 0);
            assertThat(LogPayload.decode(OUT, 0, n)).isEqualTo(v);
        } catch (VhostProtocolException expected) {
            assertThat(expected.getMessage()).isNotBlank();
        }
    }

    private static void iotlb(MemorySegment p, int size) throws VhostProtocolException {
        try {
            IotlbMessage v = IotlbPayload.decode(p, 0, size);
            int n = IotlbPayload.encode(v, OUT, 0);
            assertThat(IotlbPayload.decode(OUT, 0, n)).isEqualTo(v);
        } catch (VhostProtocolException expected) {
            assertThat(expected).hasMessageContaining("IOTLB_MSG");
        }
    }
}
