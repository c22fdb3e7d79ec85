package com.vhost.user.connection;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostProtocolException;
import com.vhost.spi.nativeio.Linux;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue #10 bounds: a device state read from a pipe (SET_DEVICE_STATE_FD LOAD, vhost-user
 * "Migrating back-end state") stops at its bound: exactly {@code maxBytes} are taken, one more byte
 * is refused naming MAX_STATE_BYTES.
 */
@Timeout(10)
class StatePipeTest {
    private static final int MAX = 4096;

    private static byte[] sendAndRead(int n) throws Exception {
        int[] p = Linux.pipe();
        try {
            StatePipe.writeFully(p[1], new byte[n], deadline(), "test writer");
            Linux.close(p[1]);
            p[1] = -1;
            return StatePipe.readToEof(p[0], MAX, deadline(), "device state LOAD");
        } finally {
            Linux.close(p[0]);
            if (p[1] >= 0) {
                Linux.close(p[1]);
            }
        }
    }

    private static long deadline() {
        return System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    }

    @Test
    void aStateAtTheBoundIsReadOneByteMoreIsRefused() throws Exception {
        assertThat(sendAndRead(MAX)).hasSize(MAX);
        assertThatThrownBy(() -> sendAndRead(MAX + 1)).isInstanceOf(VhostProtocolException.class)
                .hasMessage("device state LOAD: more than 4096 bytes (MAX_STATE_BYTES); not a device state");
    }
}
