package com.vhost.devices.net.driver;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VirtioDeviceException;
import com.vhost.api.net.VirtioNet;
import com.vhost.api.virtio.VirtioFeatures;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The control-queue command processor: accepted commands reach the target, malformed ones answer ERR with a reason. */
class NetControlTest {
    private final List<String> applied = new ArrayList<>();
    private final NetControl ctrl = new NetControl(new NetControl.Target() {
        @Override
        public void setQueuePairs(int pairs) throws VirtioDeviceException {
            if (pairs == 3) {
                throw new VirtioDeviceException("SET_VRING_ENABLE refused");
            }
            applied.add("pairs " + pairs);
        }

        @Override
        public void setMac(byte[] mac) {
            applied.add("mac " + NetMacs.format(mac));
        }

        @Override
        public void setRxMode(int command, boolean on) {
            applied.add("rx " + command + " " + on);
        }

        @Override
        public void setMacTable(int unicast, int multicast) {
            applied.add("table " + unicast + "/" + multicast);
        }
    }, 4);

    private static long all() {
        return VirtioFeatures.bit(VirtioNet.F_CTRL_VQ) | VirtioFeatures.bit(VirtioNet.F_CTRL_RX)
                | VirtioFeatures.bit(VirtioNet.F_CTRL_MAC_ADDR) | VirtioFeatures.bit(VirtioNet.F_MQ);
    }

    private int run(int... bytes) {
        byte[] b = new byte[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            b[i] = (byte) bytes[i];
        }
        return ctrl.execute(MemorySegment.ofArray(b), b.length);
    }

    @Test
    void wellFormedCommandsAreApplied() {
        ctrl.setFeatures(all());
        assertThat(run(VirtioNet.CTRL_MQ, VirtioNet.CTRL_MQ_VQ_PAIRS_SET, 2, 0)).isEqualTo(VirtioNet.CTRL_OK);
        assertThat(run(VirtioNet.CTRL_MAC, VirtioNet.CTRL_MAC_ADDR_SET, 2, 0, 0, 0, 0, 9)).isEqualTo(VirtioNet.CTRL_OK);
        assertThat(run(VirtioNet.CTRL_RX, VirtioNet.CTRL_RX_PROMISC, 1)).isEqualTo(VirtioNet.CTRL_OK);
        // one unicast entry, zero multicast entries
        assertThat(run(VirtioNet.CTRL_MAC, VirtioNet.CTRL_MAC_TABLE_SET, 1, 0, 0, 0, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0))
                .isEqualTo(VirtioNet.CTRL_OK);
        assertThat(applied).containsExactly("pairs 2", "mac 02:00:00:00:00:09", "rx 0 true", "table 1/0");
        assertThat(ctrl.errors()).isZero();
        assertThat(ctrl.commands()).isEqualTo(4);
    }

    @Test
    void malformedCommandsAnswerErrWithAReason() {
        ctrl.setFeatures(all());
        assertThat(run(VirtioNet.CTRL_MQ)).isEqualTo(VirtioNet.CTRL_ERR);
        assertThat(ctrl.lastError()).contains("1 bytes lacks class and command");
        assertThat(run(VirtioNet.CTRL_MQ, VirtioNet.CTRL_MQ_VQ_PAIRS_SET, 5, 0)).isEqualTo(VirtioNet.CTRL_ERR);
        assertThat(ctrl.lastError()).contains("5 pairs outside 1..4");
        assertThat(run(VirtioNet.CTRL_MQ, VirtioNet.CTRL_MQ_VQ_PAIRS_SET, 0, 0)).isEqualTo(VirtioNet.CTRL_ERR);
        assertThat(run(VirtioNet.CTRL_MQ, VirtioNet.CTRL_MQ_VQ_PAIRS_SET, 2)).isEqualTo(VirtioNet.CTRL_ERR);
        assertThat(ctrl.lastError()).contains("1 data bytes, 2 wanted");
        assertThat(run(VirtioNet.CTRL_MQ, 7, 2, 0)).isEqualTo(VirtioNet.CTRL_ERR);
        assertThat(ctrl.lastError()).contains("unknown command 7");
        assertThat(run(VirtioNet.CTRL_MQ, VirtioNet.CTRL_MQ_VQ_PAIRS_SET, 3, 0)).isEqualTo(VirtioNet.CTRL_ERR);
        assertThat(ctrl.lastError()).contains("SET_VRING_ENABLE refused");
        assertThat(run(VirtioNet.CTRL_MAC, VirtioNet.CTRL_MAC_ADDR_SET, 1, 0, 0x5e, 0, 0, 1)).isEqualTo(VirtioNet.CTRL_ERR);
        assertThat(ctrl.lastError()).contains("multicast");
        assertThat(run(VirtioNet.CTRL_MAC, VirtioNet.CTRL_MAC_TABLE_SET, 9, 0, 0, 0)).isEqualTo(VirtioNet.CTRL_ERR);
        assertThat(run(VirtioNet.CTRL_RX, VirtioNet.CTRL_RX_PROMISC, 2)).isEqualTo(VirtioNet.CTRL_ERR);
        assertThat(ctrl.lastError()).contains("value 2 is not 0 or 1");
        assertThat(run(VirtioNet.CTRL_RX, 9, 1)).isEqualTo(VirtioNet.CTRL_ERR);
        assertThat(run(0x42, 0)).isEqualTo(VirtioNet.CTRL_ERR);
        assertThat(ctrl.lastError()).contains("unknown class 66");
        assertThat(applied).isEmpty();
        assertThat(ctrl.errors()).isEqualTo(ctrl.commands()).isEqualTo(11);
    }

    @Test
    void classesNeedTheirFeature() {
        ctrl.setFeatures(VirtioFeatures.bit(VirtioNet.F_CTRL_VQ));
        assertThat(run(VirtioNet.CTRL_RX, VirtioNet.CTRL_RX_PROMISC, 1)).isEqualTo(VirtioNet.CTRL_ERR);
        assertThat(ctrl.lastError()).contains("VIRTIO_NET_F_CTRL_RX");
        assertThat(run(VirtioNet.CTRL_MQ, VirtioNet.CTRL_MQ_VQ_PAIRS_SET, 1, 0)).isEqualTo(VirtioNet.CTRL_ERR);
        assertThat(ctrl.lastError()).contains("VIRTIO_NET_F_MQ");
        assertThat(run(VirtioNet.CTRL_MAC, VirtioNet.CTRL_MAC_ADDR_SET, 2, 0, 0, 0, 0, 1)).isEqualTo(VirtioNet.CTRL_ERR);
        assertThat(ctrl.lastError()).contains("VIRTIO_NET_F_CTRL_MAC_ADDR");
    }

    @Test
    void macTextRoundTrips() {
        assertThat(NetMacs.format(NetMacs.parse("52:54:00:AB:cd:0f"))).isEqualTo("52:54:00:ab:cd:0f");
        assertThat(NetMacs.randomLocal()[0] & 3).isEqualTo(2);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> NetMacs.parse("52:54:00"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not a MAC address");
    }
}
