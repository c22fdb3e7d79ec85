package com.vhost.kernel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostNativeException;
import com.vhost.api.VhostTarget;
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
}
