package com.vhost.spi.vhost;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VhostBackendType;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.spi.testing.RecordingBackend;
import org.junit.jupiter.api.Test;

/** The inflight region handed to a hot-swap's next back-end ahead of the pause ({@link InflightTracking#prepare}). */
class InflightTrackingTest {
    private static final long VERSION_1 = VirtioFeatures.bit(VirtioFeatures.F_VERSION_1);
    private static final long PROTO = 1L << 30;
    private static final long INFLIGHT = VhostUserProtocolFeature.MQ.mask() | VhostUserProtocolFeature.INFLIGHT_SHMFD.mask();

    private static RecordingBackend user(long protocol) {
        return RecordingBackend.of(VhostBackendType.USER, VERSION_1 | PROTO, protocol);
    }

    @Test
    void preparedBackEndGetsTheRegionAheadAndItsAttachSendsNothing() throws Exception {
        RecordingBackend first = user(INFLIGHT);
        RecordingBackend next = user(INFLIGHT);
        RecordingBackend without = user(VhostUserProtocolFeature.MQ.mask());
        try (InflightTracking t = new InflightTracking();
                GenericVhostDevice a = new GenericVhostDevice(first, 2);
                GenericVhostDevice b = new GenericVhostDevice(next, 2);
                GenericVhostDevice c = new GenericVhostDevice(without, 2)) {
            for (GenericVhostDevice d : new GenericVhostDevice[] {a, b, c}) {
                d.ackFeatures(VERSION_1);
            }
            first.log.clear();
            next.log.clear();
            assertThat(t.prepare(a, 2, 128)).as("no region yet: the attach asks for one").isFalse();
            assertThat(first.log).isEmpty();
            assertThat(t.attach(a, 2, 128)).isTrue();
            // SET_FEATURES first: the back-end sizes the region by the ring layout (QEMU vhost_dev_prepare_inflight)
            assertThat(first.log).containsExactly("SET_FEATURES 0x140000000", "GET_INFLIGHT_FD 2 128", "SET_INFLIGHT_FD 2 128");

            assertThat(t.prepare(b, 2, 128)).isTrue();
            assertThat(next.log).containsExactly("SET_INFLIGHT_FD 2 128");
            assertThat(t.active()).as("still the old back-end's region until the next attach").isTrue();
            next.log.clear();
            assertThat(t.attach(b, 2, 128)).isTrue();
            assertThat(next.log).as("handed over already").isEmpty();
            assertThat(t.active()).isTrue();

            assertThat(t.prepare(c, 2, 128)).as("no INFLIGHT_SHMFD: nothing ahead").isFalse();
            assertThat(t.attach(c, 2, 128)).isFalse();
            assertThat(t.active()).isFalse();

            // prepared for one device, attached to another: that one gets the region in full
            assertThat(t.prepare(b, 2, 128)).isTrue();
            first.log.clear();
            assertThat(t.attach(a, 2, 128)).isTrue();
            assertThat(first.log).containsExactly("SET_FEATURES 0x140000000", "SET_INFLIGHT_FD 2 128");
        }
    }

    /** A back-end that answers GET_INFLIGHT_FD with {@code mmap_size} 0 tracks nothing: the device runs without a region. */
    @Test
    void aBackEndAnsweringNoRegionIsRunWithoutOne() throws Exception {
        RecordingBackend none = user(INFLIGHT);
        ((RecordingBackend.User) none).inflightBytes = 0;
        try (InflightTracking t = new InflightTracking(); GenericVhostDevice d = new GenericVhostDevice(none, 2)) {
            d.ackFeatures(VERSION_1);
            none.log.clear();
            assertThat(t.attach(d, 2, 128)).isFalse();
            assertThat(none.log).containsExactly("SET_FEATURES 0x140000000", "GET_INFLIGHT_FD 2 128");
            assertThat(t.active()).isFalse();
        }
    }
}
