package com.vhost.vdpa;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostNativeException;
import com.vhost.api.VhostTarget;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Errors for wrong nodes. The real vhost-vdpa driver (vdpa_sim) is exercised inside a QEMU guest
 * with a Debian kernel (issue on kernel and vDPA backends).
 */
class VhostVdpaOpsTest {
    @TempDir
    Path dir;

    @Test
    void missingNodeIsATypedErrorWithAHint() {
        VhostTarget t = VhostTarget.of(dir.resolve("vhost-vdpa-7").toString());
        VhostVdpaOps ops = new VhostVdpaOps();
        assertThat(ops.unusableReason(t)).get().asString().contains("no such device node");
        assertThatThrownBy(() -> ops.open(t)).isInstanceOf(VhostNativeException.class)
                .hasMessageContaining("vdpa dev add");
    }

    @Test
    void aNodeThatIsNotVdpaRefusesTheIoctlByName() throws Exception {
        Path plain = dir.resolve("plain");
        Files.writeString(plain, "x");
        try (VdpaBackend b = (VdpaBackend) new VhostVdpaOps().open(VhostTarget.of(plain.toString()))) {
            assertThatThrownBy(b::deviceId).isInstanceOf(VhostNativeException.class)
                    .hasMessageContaining("VHOST_VDPA_GET_DEVICE_ID").hasMessageContaining("errno 25");
            assertThatThrownBy(b::suspend).hasMessageContaining("backend feature");
        }
    }
}
