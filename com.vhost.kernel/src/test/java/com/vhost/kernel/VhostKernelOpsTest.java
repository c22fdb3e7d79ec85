package com.vhost.kernel;

import com.vhost.spi.tap.TapDevice;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostFeatureException;
import com.vhost.api.VhostNativeException;
import com.vhost.api.VhostTarget;
import com.vhost.api.registry.DeviceConfigKeys;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What can be checked without vhost-net: errors for missing or wrong nodes. The data path on the
 * real driver runs inside a QEMU guest with a Debian kernel (see the issue on kernel backends).
 */
class VhostKernelOpsTest {
    @TempDir
    Path dir;

    @Test
    void missingNodeIsATypedErrorWithAHint() {
        VhostKernelOps ops = new VhostKernelOps();
        VhostTarget t = VhostTarget.of(dir.resolve("vhost-net").toString());
        assertThat(ops.unusableReason(t)).get().asString().contains("no such device node");
        assertThatThrownBy(() -> ops.open(t))
                .isInstanceOf(VhostNativeException.class)
                .hasMessageContaining("vhost-net")
                .hasMessageContaining("CONFIG_VHOST_NET")
                .satisfies(e -> assertThat(((VhostNativeException) e).errno()).isEqualTo(2));
    }

    @Test
    void aNodeThatIsNotVhostRefusesTheIoctlByName() throws Exception {
        Path notVhost = dir.resolve("plain");
        java.nio.file.Files.writeString(notVhost, "x");
        VhostKernelOps ops = new VhostKernelOps();
        try (var backend = ops.open(new VhostTarget(notVhost.toString(), Map.of()))) {
            assertThatThrownBy(backend::getFeatures)
                    .isInstanceOf(VhostNativeException.class)
                    .hasMessageContaining("VHOST_GET_FEATURES")
                    .hasMessageContaining("errno 25");
        }
    }

    @Test
    void badTapNameIsRejectedBeforeAnySyscall() {
        assertThatThrownBy(() -> TapDevice.open("a-name-that-is-too-long"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("1..15 bytes");
    }

    @Test
    void queuePairsOptionOutsideItsRangeIsATypedErrorBeforeTheNodeIsOpened() {
        VhostKernelOps ops = new VhostKernelOps();
        for (String key : new String[] {DeviceConfigKeys.OPTION_QUEUE_PAIRS, DeviceConfigKeys.OPTION_QUEUE_PAIRS_LEGACY}) {
            for (String bad : new String[] {"0", "128", "two", ""}) {
                VhostTarget t = new VhostTarget(dir.resolve("vhost-net").toString(), Map.of(key, bad));
                assertThatThrownBy(() -> ops.open(t)).as("%s=%s", key, bad)
                        .isInstanceOf(VhostFeatureException.class)
                        .hasMessageContaining(key + "=" + bad)
                        .hasMessageContaining("1..127");
            }
        }
    }

    @Test
    void tapQueueCountOutsideOneTo256IsRejectedBeforeAnySyscall() {
        assertThatThrownBy(() -> TapDevice.open("t0", 0)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("0 queues");
        assertThatThrownBy(() -> TapDevice.open("t0", 257)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("1..256");
    }
}
