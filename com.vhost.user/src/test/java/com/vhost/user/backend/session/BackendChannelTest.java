package com.vhost.user.backend.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostNativeException;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.spi.nativeio.UnixSocket;
import com.vhost.user.connection.VhostUserConnection;
import com.vhost.user.message.BackendRequest;
import com.vhost.user.message.MessageHeader;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(20)
class BackendChannelTest {
    @Test
    void sendsHeaderOnlyNotificationsAndFailsCleanlyOnceThePeerIsGone() throws Exception {
        UnixSocket[] p = UnixSocket.pair();
        // hand the channel a plain fd as SET_BACKEND_REQ_FD would (the UnixSocket object is dropped)
        BackendChannel ch = new BackendChannel(new OwnedFd(p[0].fd()));
        try (VhostUserConnection front = new VhostUserConnection(p[1], "front")) {
            front.setTimeouts(2000, 2000);
            ch.notify(BackendRequest.CONFIG_CHANGE_MSG);
            List<OwnedFd> fds = new ArrayList<>();
            MessageHeader h = front.receive(fds);
            assertThat(h).isEqualTo(MessageHeader.request(BackendRequest.CONFIG_CHANGE_MSG.code(), 0, false));
            assertThat(fds).isEmpty();
        }
        // the front-end closed its end: EPIPE, not a dead JVM
        assertThatThrownBy(() -> ch.notify(BackendRequest.CONFIG_CHANGE_MSG)).isInstanceOf(VhostNativeException.class);
        ch.close();
        assertThatThrownBy(() -> ch.notify(BackendRequest.CONFIG_CHANGE_MSG)).isInstanceOf(VhostNativeException.class)
                .hasMessageContaining("channel closed");
    }
}
