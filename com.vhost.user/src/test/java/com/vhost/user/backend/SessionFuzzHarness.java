package com.vhost.user.backend;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VhostException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.spi.nativeio.UnixSocket;
import com.vhost.user.connection.VhostUserConnection;
import com.vhost.user.testing.FuzzSupport;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One back-end session per fuzz input, over a socket pair, with the oracle of the session fuzz
 * targets (issue #10): the session ends within {@link #END_TIMEOUT_MS} once the front-end's side is
 * closed; it ends with a {@link VhostException} that is not a contained fault (a
 * {@link VirtioDeviceException} whose cause is a {@link RuntimeException} or {@link Error}: the
 * guest memory here is never truncated, so a fault means a message or chain was not validated);
 * the model's handler threw only {@link com.vhost.api.VirtqueueException}; and the process holds
 * exactly the fds and memfd mappings (guest memory) it held before the input.
 */
final class SessionFuzzHarness implements AutoCloseable {
    /** The session's bound on the rest of a message once its header started (a short one: inputs stay fast). */
    static final int SESSION_BODY_TIMEOUT_MS = 100;
    /** The front-end's bound on each wait for a reply: past it the session stalled, a finding. */
    static final int MESSAGE_TIMEOUT_MS = 2000;
    static final int END_TIMEOUT_MS = 10_000;
    private static final ExecutorService POOL = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "fuzz-session");
        t.setDaemon(true);
        return t;
    });

    final ChainSinkDevice device = new ChainSinkDevice();
    final UnixSocket frontSocket;
    final VhostUserConnection front;
    private final int fdsBefore;
    private final long mappingsBefore;
    private final CompletableFuture<Throwable> ended;

    SessionFuzzHarness() throws VhostException {
        fdsBefore = FuzzSupport.openFds();
        mappingsBefore = FuzzSupport.memfdMappings();
        UnixSocket[] p = UnixSocket.pair();
        BackendSession session = new BackendSession("fuzz", device, new VhostUserConnection(p[0], "front-end"),
                SESSION_BODY_TIMEOUT_MS, POOL);
        frontSocket = p[1];
        front = new VhostUserConnection(p[1], "back-end");
        front.setTimeouts(MESSAGE_TIMEOUT_MS, MESSAGE_TIMEOUT_MS);
        ended = CompletableFuture.supplyAsync(() -> {
            try {
                session.serve();
                return new AssertionError("serve() returned normally");
            } catch (VhostException | RuntimeException | Error e) {
                return e;
            } finally {
                session.close();
            }
        }, POOL);
    }

    /**
     * Closes the front-end's side and checks the oracle.
     *
     * @throws AssertionError naming what broke it
     */
    @Override
    public void close() throws Exception {
        front.close();
        Throwable why;
        try {
            why = ended.get(END_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new AssertionError("the session did not end within " + END_TIMEOUT_MS + " ms of the front-end closing");
        }
        if (!device.unexpected.isEmpty()) {
            throw new AssertionError("the model's queue handler threw " + device.unexpected.peek(), device.unexpected.peek());
        }
        if (!(why instanceof VhostException) || (why instanceof VirtioDeviceException
                && (why.getCause() instanceof RuntimeException || why.getCause() instanceof Error))) {
            throw new AssertionError("the session ended with " + why, why);
        }
        assertThat(why.getMessage()).as("message of %s", why).isNotBlank();
        assertThat(FuzzSupport.openFds()).as("open fds after the session").isEqualTo(fdsBefore);
        assertThat(FuzzSupport.memfdMappings()).as("memfd mappings after the session").isEqualTo(mappingsBefore);
    }
}
