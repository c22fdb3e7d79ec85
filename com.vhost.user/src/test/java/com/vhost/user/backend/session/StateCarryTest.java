package com.vhost.user.backend.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.DeviceStateBackend;
import com.vhost.api.VhostRefusedException;
import com.vhost.api.VhostTarget;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.user.DeviceStateDirection;
import com.vhost.api.user.DeviceStatePhase;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.spi.nativeio.Linux;
import com.vhost.user.VhostUserOps;
import com.vhost.user.backend.VhostUserServer;
import com.vhost.user.backend.session.DeviceStateTransfersTest.StateModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The overlapped state carry between two vhost-user back-ends ({@link DeviceStateBackend#carry},
 * which the front-end runs with both SET_DEVICE_STATE_FD and both CHECK_DEVICE_STATE requests in
 * flight at once): the bytes arrive whole, and every way one side refuses ends in a typed error
 * with no transfer left open on the other side (its next transfer is accepted) and its state as it was.
 */
@Timeout(30)
class StateCarryTest {
    @TempDir
    Path dir;
    private final VhostUserOps ops = new VhostUserOps();
    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void close() throws Exception {
        for (int i = open.size() - 1; i >= 0; i--) {
            open.get(i).close();
        }
    }

    /** A server of {@code model} and a front-end connected to it with DEVICE_STATE (and REPLY_ACK) negotiated; no ring is ever started. */
    private VhostUserBackend serve(String name, StateModel model) throws Exception {
        VhostUserServer server = new VhostUserServer(dir.resolve(name), model);
        server.start();
        open.add(server);
        VhostUserBackend fe = ops.open(new VhostTarget(dir.resolve(name).toString(),
                Map.of(DeviceConfigKeys.OPTION_REPLY_TIMEOUT_MS, "3000")));
        open.add(fe::close);
        fe.getFeatures();
        fe.setOwner();
        fe.setProtocolFeatures(fe.getProtocolFeatures()
                & (VhostUserProtocolFeature.DEVICE_STATE.mask() | VhostUserProtocolFeature.REPLY_ACK.mask()));
        assertThat(((DeviceStateBackend) fe).canTransferState()).isTrue();
        return fe;
    }

    @Test
    void theStateOfOneBackEndArrivesWholeInTheOther() throws Exception {
        StateModel a = new StateModel();
        StateModel b = new StateModel();
        a.state = new byte[] {4, 5, 6, 7};
        VhostUserBackend from = serve("a.sock", a);
        VhostUserBackend to = serve("b.sock", b);
        assertThat(DeviceStateBackend.carry(from, to, 5000)).isEqualTo(4);
        assertThat(b.state).containsExactly(4, 5, 6, 7);
        // both sessions go on: a second carry, the other way, works too
        a.state = new byte[] {9};
        assertThat(DeviceStateBackend.carry(to, from, 5000)).isEqualTo(4);
        assertThat(a.state).containsExactly(4, 5, 6, 7);
    }

    @Test
    void aLargeStateCrossesBothPipes() throws Exception {
        StateModel a = new StateModel();
        StateModel b = new StateModel();
        a.state = new byte[300_000]; // beyond both pipes' buffers: both back-ends' transfer threads run
        for (int i = 0; i < a.state.length; i++) {
            a.state[i] = (byte) (i * 31);
        }
        VhostUserBackend from = serve("a.sock", a);
        VhostUserBackend to = serve("b.sock", b);
        assertThat(DeviceStateBackend.carry(from, to, 5000)).isEqualTo(300_000);
        assertThat(b.state).isEqualTo(a.state);
    }

    @Test
    void aRefusedSaveLeavesTheDestinationWithItsStateAndNoTransferOpen() throws Exception {
        StateModel a = new StateModel();
        StateModel b = new StateModel();
        a.state = new byte[0]; // SET_DEVICE_STATE_FD(SAVE) is accepted; an empty state is what a failed save leaves
        b.state = new byte[] {1, 1};
        VhostUserBackend from = serve("a.sock", a);
        VhostUserBackend to = serve("b.sock", b);
        assertThatThrownBy(() -> DeviceStateBackend.carry(from, to, 5000)).isInstanceOf(VhostRefusedException.class)
                .hasMessageContaining("CHECK_DEVICE_STATE");
        assertThat(b.state).as("the empty state was refused by the destination's model").containsExactly(1, 1);
        a.state = new byte[] {2, 3};
        assertThat(DeviceStateBackend.carry(from, to, 5000)).as("no transfer left open on either side").isEqualTo(2);
        assertThat(b.state).containsExactly(2, 3);
    }

    @Test
    void aLoadRefusedByTheDestinationIsATypedErrorAndTheSourceGoesOn() throws Exception {
        StateModel a = new StateModel();
        StateModel b = new StateModel();
        a.state = new byte[] {8};
        VhostUserBackend from = serve("a.sock", a);
        VhostUserBackend to = serve("b.sock", b);
        // a LOAD still running on the destination (its pipe not at end of file): SET_DEVICE_STATE_FD(LOAD) is refused
        int[] p = Linux.pipe();
        try {
            to.setDeviceStateFd(DeviceStateDirection.LOAD, DeviceStatePhase.STOPPED, p[0]);
            assertThatThrownBy(() -> DeviceStateBackend.carry(from, to, 5000)).isInstanceOf(VhostRefusedException.class)
                    .hasMessageContaining("SET_DEVICE_STATE_FD").hasMessageContaining("LOAD");
        } finally {
            Linux.closeQuietly(p[0]);
            Linux.closeQuietly(p[1]); // end of file: the destination's LOAD ends, empty
        }
        assertThatThrownBy(to::checkDeviceState).as("an empty state is refused").isInstanceOf(VhostRefusedException.class);
        assertThat(DeviceStateBackend.carry(from, to, 5000)).as("the source's session goes on").isEqualTo(1);
        assertThat(b.state).containsExactly(8);
    }
}
