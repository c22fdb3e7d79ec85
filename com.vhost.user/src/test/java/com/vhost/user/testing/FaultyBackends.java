package com.vhost.user.testing;

import com.vhost.api.VhostException;
import com.vhost.api.VhostRefusedException;
import com.vhost.api.VhostTarget;
import com.vhost.api.user.VhostUserBackend;
import com.vhost.user.VhostUserOps;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Path;

/** vhost-user front-end connections to a back-end, plain or with one request refused, for driver tests. */
public final class FaultyBackends {
    private FaultyBackends() {}

    /** @return a connection to the back-end listening on {@code sock} */
    public static VhostUserBackend connect(Path sock) throws VhostException {
        return new VhostUserOps().open(VhostTarget.of(sock.toString()));
    }

    /**
     * A connection that negotiates normally and refuses SET_VRING_KICK (a back-end that cannot
     * start its rings), described as {@code refusing-kick:<sock>}. It is a {@link VhostUserBackend}
     * so the generic vhost device treats it as the vhost-user transport it is.
     */
    public static VhostUserBackend refusingKick(Path sock) throws VhostException {
        VhostUserBackend real = connect(sock);
        return (VhostUserBackend) Proxy.newProxyInstance(VhostUserBackend.class.getClassLoader(),
                new Class<?>[] {VhostUserBackend.class}, (proxy, m, args) -> {
                    if (m.getName().equals("setVringKick")) {
                        throw new VhostRefusedException("SET_VRING_KICK", 1, "test back-end cannot start queue " + args[0]);
                    }
                    if (m.getName().equals("describe")) {
                        return "refusing-kick:" + sock;
                    }
                    if (m.getName().equals("pipeline")) { // one at a time, so its SET_VRING_KICK is refused too
                        return InvocationHandler.invokeDefault(proxy, m, args);
                    }
                    try {
                        return m.invoke(real, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }
}
