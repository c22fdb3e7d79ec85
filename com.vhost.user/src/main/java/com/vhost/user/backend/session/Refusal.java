package com.vhost.user.backend.session;

/**
 * A well-formed front-end request that the back-end could not carry out (QEMU
 * {@code docs/interop/vhost-user.rst}, "REPLY_ACK"): the {@link RequestDispatcher} answers it with
 * a non-zero ack when the front-end asked for one (NEED_REPLY); otherwise the session ends, since
 * the front-end would have no other way to learn of it. A malformed message is not a refusal but a
 * {@link com.vhost.api.VhostProtocolException}.
 *
 * <p>The message names what was refused ("queue 0: size 100 is not a power of two in 1..256"); the
 * dispatcher adds the request's name where it logs or reports it.
 */
public final class Refusal extends Exception {
    private static final long serialVersionUID = 1L;
    private final boolean fatal;

    /** A refusal the session survives. */
    public Refusal(String message) {
        this(message, false);
    }

    /**
     * @param message why the request was refused
     * @param fatal the session cannot go on: the dispatcher refuses (when asked for an ack), then
     *     ends the session
     */
    public Refusal(String message, boolean fatal) {
        super(message, null, false, false);
        this.fatal = fatal;
    }

    /** @return whether the session must end after this refusal */
    public boolean fatal() {
        return fatal;
    }
}
