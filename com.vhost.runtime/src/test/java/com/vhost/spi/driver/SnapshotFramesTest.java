package com.vhost.spi.driver;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostBackendType;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.testing.RecordingBackend;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The shared driver-snapshot framing and driver-factory configuration read. */
class SnapshotFramesTest {
    private static final int MAGIC = 0x54455354; // "TEST"
    private static final List<VirtqueueConfig> QUEUES = List.of(
            new VirtqueueConfig(0, 8, 0x1000, 0x2000, 0x3000, 5, -1, -1, true),
            new VirtqueueConfig(1, 8, 0x4000, 0x5000, 0x6000, 7, -1, -1, false));

    private static byte[] sample() {
        return SnapshotFrames.writeDriverSnapshot(MAGIC, 3, 0x1_0000_0001L, new byte[] {1, 2, 3}, new byte[] {9},
                QUEUES, List.of(4, 6), (out, r) -> out.writeInt(r));
    }

    private static SnapshotFrames.DriverSnapshot<Integer> read(byte[] b) throws VirtioDeviceException {
        return SnapshotFrames.readDriverSnapshot(b, "test snapshot", MAGIC, 3, "test state", 16, 2,
                (in, q) -> SnapshotFrames.checkInFlight(q, in.readInt(), "entries"));
    }

    @Test
    void driverSnapshotRoundTripsWithTheDocumentedLayout() throws Exception {
        byte[] b = sample();
        // 4 magic + 4 version + 8 features + 4+3 config + 4+1 state + 4 count + 2 × 37 queues + 2 × 4 rings
        assertThat(b).hasSize(4 + 4 + 8 + 7 + 5 + 4 + 2 * 37 + 2 * 4);
        assertThat(Arrays.copyOf(b, 4)).containsExactly(0x54, 0x45, 0x53, 0x54);
        var s = read(b);
        assertThat(s.head().ackedFeatures()).isEqualTo(0x1_0000_0001L);
        assertThat(s.head().config()).containsExactly(1, 2, 3);
        assertThat(s.head().state()).containsExactly(9);
        assertThat(s.head().queues()).isEqualTo(QUEUES);
        assertThat(s.rings()).containsExactly(4, 6);
    }

    @Test
    void badSnapshotsAreRefusedNamingWhatIsWrong() {
        byte[] b = sample();
        byte[] wrongVersion = b.clone();
        wrongVersion[7] = 4;
        assertThatThrownBy(() -> read(wrongVersion)).isInstanceOf(VirtioDeviceException.class)
                .hasMessage("restore: not a test snapshot (magic 0x54455354, version 4; expected 0x54455354 version 3)");
        assertThatThrownBy(() -> read(Arrays.copyOf(b, b.length - 2))).isInstanceOf(VirtioDeviceException.class)
                .hasMessage("restore: truncated snapshot of " + (b.length - 2) + " bytes");
        assertThatThrownBy(() -> read(Arrays.copyOf(b, 21))).isInstanceOf(VirtioDeviceException.class)
                .hasMessage("restore: truncated snapshot of 21 bytes (config)");
        assertThatThrownBy(() -> read(Arrays.copyOf(b, b.length + 1))).isInstanceOf(VirtioDeviceException.class)
                .hasMessage("restore: trailing bytes after 2 queues");
        byte[] bigState = SnapshotFrames.writeDriverSnapshot(MAGIC, 3, 0, new byte[0], new byte[17], List.of(), List.of(),
                (out, r) -> {});
        assertThatThrownBy(() -> read(bigState)).isInstanceOf(VirtioDeviceException.class)
                .hasMessage("restore: test state length 17 out of range 0..16");
        byte[] tooMany = SnapshotFrames.writeDriverSnapshot(MAGIC, 3, 0, new byte[0], new byte[0], QUEUES, List.of(4, 9),
                (out, r) -> out.writeInt(r));
        assertThatThrownBy(() -> read(tooMany)).isInstanceOf(VirtioDeviceException.class)
                .hasMessage("restore: queue 1 records 9 entries in flight, more than its size 8");
    }

    @Test
    void aRangeOfVersionsIsReadEachRingRecordByItsVersion() throws Exception {
        // version 2 rings: one int; version 3 rings: two ints (an added field)
        byte[] v2 = SnapshotFrames.writeDriverSnapshot(MAGIC, 2, 7, new byte[0], new byte[0], QUEUES, List.of(4, 6),
                (out, r) -> out.writeInt(r));
        byte[] v3 = SnapshotFrames.writeDriverSnapshot(MAGIC, 3, 7, new byte[0], new byte[0], QUEUES, List.of(4, 6),
                (out, r) -> {
                    out.writeInt(r);
                    out.writeInt(r * 10);
                });
        SnapshotFrames.VersionedRingReader<List<Integer>> ring = (in, q, version) -> version == 2
                ? List.of(in.readInt(), -1) : List.of(in.readInt(), in.readInt());
        assertThat(SnapshotFrames.readDriverSnapshot(v2, "test snapshot", MAGIC, 2, 3, "test state", 16, 2, ring).rings())
                .containsExactly(List.of(4, -1), List.of(6, -1));
        var s3 = SnapshotFrames.readDriverSnapshot(v3, "test snapshot", MAGIC, 2, 3, "test state", 16, 2, ring);
        assertThat(s3.rings()).containsExactly(List.of(4, 40), List.of(6, 60));
        assertThat(s3.head().queues()).isEqualTo(QUEUES);
        byte[] v1 = v2.clone();
        v1[7] = 1;
        assertThatThrownBy(() -> SnapshotFrames.readDriverSnapshot(v1, "test snapshot", MAGIC, 2, 3, "test state", 16, 2, ring))
                .isInstanceOf(VirtioDeviceException.class)
                .hasMessage("restore: not a test snapshot (magic 0x54455354, version 1; expected 0x54455354 versions 2..3)");
        assertThatThrownBy(() -> SnapshotFrames.readDriverSnapshot(v3, "test snapshot", MAGIC, 2, 2, "test state", 16, 2, ring))
                .isInstanceOf(VirtioDeviceException.class).hasMessageContaining("version 3; expected 0x54455354 version 2");
    }

    @Test
    void driverConfigReadsSwapWaitAndClosesTheBackendOnBadInput() throws Exception {
        RecordingBackend backend = RecordingBackend.of(VhostBackendType.USER, 0, 0);
        var c = DriverConfigs.read(backend, Map.of("swap.wait.ms", "250", "n", 3), "test", m -> m.get("n"),
                TimeUnit.SECONDS.toNanos(10));
        assertThat(c.options()).isEqualTo(3);
        assertThat(c.swapWaitNanos()).isEqualTo(TimeUnit.MILLISECONDS.toNanos(250));
        assertThat(DriverConfigs.read(backend, Map.of(), "test", m -> 0, TimeUnit.SECONDS.toNanos(10)).swapWaitNanos())
                .isEqualTo(TimeUnit.SECONDS.toNanos(10));
        assertThat(backend.isConnected()).isTrue();

        assertThatThrownBy(() -> DriverConfigs.read(backend, Map.of("swap.wait.ms", -1), "test", m -> 0, 0))
                .isInstanceOf(VirtioDeviceException.class)
                .hasMessage("test device configuration: 'swap.wait.ms' = -1 is negative");
        assertThat(backend.log).containsExactly("CLOSE");
        RecordingBackend other = RecordingBackend.of(VhostBackendType.USER, 0, 0);
        assertThatThrownBy(() -> DriverConfigs.read(other, Map.of(), "test", m -> {
            throw new IllegalArgumentException("'queues' = 'x' is not a number");
        }, 0)).hasMessage("test device configuration: 'queues' = 'x' is not a number");
        assertThat(other.isConnected()).isFalse();
    }
}
