package com.vhost.user.frontend;

import com.vhost.api.VhostException;
import com.vhost.api.VhostFeatureException;
import com.vhost.api.VhostFeatures;
import com.vhost.api.VhostProtocolException;
import com.vhost.api.VhostRefusedException;
import com.vhost.api.user.VringRequest;
import com.vhost.user.message.FrontendRequest;
import com.vhost.user.message.MessageHeader;
import com.vhost.user.message.U64Payload;
import com.vhost.user.message.VringAddrPayload;
import com.vhost.user.message.VringFilePayload;
import com.vhost.user.message.VringState;
import java.util.List;

/**
 * {@link VhostUserFrontend#pipeline}: ring requests sent as one batch, then their replies read in
 * the order sent (vhost-user spec: the back-end handles requests one by one in order, and with
 * REPLY_ACK acks each request that set NEED_REPLY). One wait covers the batch, where sending them
 * one by one waits once per request. Each reply is checked as a single request's is (code, REPLY
 * flag, payload, no fds); a refusal names its request and queue.
 */
final class FrontendPipeline {
    /**
     * Requests sent before their replies are read, at most: bounds what waits in the socket
     * buffers (a request is at most 52 bytes, its reply 20).
     */
    static final int CHUNK = 64;

    private FrontendPipeline() {}

    /**
     * @return per request, GET_VRING_BASE's next avail index, otherwise 0
     * @throws VhostFeatureException when SET_VRING_ENABLE is asked without PROTOCOL_FEATURES
     *     negotiated (nothing sent)
     * @throws VhostProtocolException for a queue index a SET_VRING_KICK/CALL cannot carry or
     *     misaligned ring addresses (nothing sent), or a reply out of step (connection closed)
     * @throws VhostRefusedException the first refusal, later failures suppressed on it
     * @throws VhostException from the connection (closed then), naming the request
     */
    static long[] run(VhostUserFrontend f, List<VringRequest> requests) throws VhostException {
        for (VringRequest r : requests) {
            check(f, r);
        }
        long[] out = new long[requests.size()];
        boolean ack = f.replyAck();
        VhostException first = null;
        for (int from = 0; from < requests.size(); from += CHUNK) {
            int to = Math.min(requests.size(), from + CHUNK);
            for (int i = from; i < to; i++) {
                try {
                    send(f, requests.get(i), ack);
                } catch (VhostException e) {
                    // the stream broke: nothing after it can be sent or read
                    throw FrontendErrors.keep(first, FrontendErrors.inContext(requests.get(i).describe(), e, f.conn));
                }
            }
            for (int i = from; i < to; i++) {
                VringRequest r = requests.get(i);
                if (!ack && r.type() != VringRequest.Type.GET_VRING_BASE) {
                    continue;
                }
                try {
                    out[i] = reply(f, r);
                } catch (VhostException e) {
                    first = FrontendErrors.keep(first, FrontendErrors.inContext(r.describe(), e, f.conn));
                    if (!f.conn.isOpen()) {
                        throw first; // out of step or gone: the replies after it cannot be read
                    }
                } finally {
                    f.closeRxFds();
                }
            }
        }
        if (first != null) {
            throw first;
        }
        return out;
    }

    private static FrontendRequest request(VringRequest r) {
        return switch (r.type()) {
            case SET_VRING_NUM -> FrontendRequest.SET_VRING_NUM;
            case SET_VRING_BASE -> FrontendRequest.SET_VRING_BASE;
            case SET_VRING_ADDR -> FrontendRequest.SET_VRING_ADDR;
            case SET_VRING_CALL -> FrontendRequest.SET_VRING_CALL;
            case SET_VRING_KICK -> FrontendRequest.SET_VRING_KICK;
            case SET_VRING_ENABLE -> FrontendRequest.SET_VRING_ENABLE;
            case GET_VRING_BASE -> FrontendRequest.GET_VRING_BASE;
        };
    }

    /** What the single request would refuse without touching the socket. */
    private static void check(VhostUserFrontend f, VringRequest r) throws VhostException {
        switch (r.type()) {
            case SET_VRING_ENABLE -> {
                if (!VhostFeatures.has(f.negotiatedFeatures(), VhostFeatures.F_PROTOCOL_FEATURES)) {
                    throw new VhostFeatureException(r.describe() + " needs VHOST_USER_F_PROTOCOL_FEATURES negotiated by SET_FEATURES");
                }
            }
            case SET_VRING_KICK, SET_VRING_CALL -> {
                if (r.index() > VhostUserFrontend.MAX_VRING_FILE_INDEX) {
                    throw new VhostProtocolException(r.describe() + ": queue index " + r.index()
                            + " does not fit the 8-bit vring file index");
                }
            }
            case SET_VRING_ADDR -> {
                try {
                    VringAddrPayload.encode(r.addr(), f.conn.sendPayload(), 0); // validates; sent later
                } catch (VhostProtocolException e) {
                    throw new VhostProtocolException(FrontendErrors.withContext(r.describe(), e.getMessage()), e);
                }
            }
            default -> {}
        }
    }

    private static void send(VhostUserFrontend f, VringRequest r, boolean ack) throws VhostException {
        FrontendRequest req = request(r);
        int[] fds = null;
        int n;
        switch (r.type()) {
            case SET_VRING_ADDR -> n = VringAddrPayload.encode(r.addr(), f.conn.sendPayload(), 0);
            case SET_VRING_KICK, SET_VRING_CALL -> {
                n = new VringFilePayload(r.index(), r.fd() < 0).encode(f.conn.sendPayload(), 0);
                fds = r.fd() < 0 ? null : new int[] {r.fd()};
            }
            default -> n = new VringState(r.index(), (int) r.value()).encode(f.conn.sendPayload(), 0);
        }
        f.send(req, n, fds, ack && r.type() != VringRequest.Type.GET_VRING_BASE);
    }

    private static long reply(VhostUserFrontend f, VringRequest r) throws VhostException {
        FrontendRequest req = request(r);
        MessageHeader h = f.receiveReply(req, false);
        if (r.type() == VringRequest.Type.GET_VRING_BASE) {
            VringState s = VringState.decode("GET_VRING_BASE reply", f.conn.receivePayload(), 0, h.size());
            if (s.index() != r.index()) {
                throw new VhostProtocolException("GET_VRING_BASE reply names queue " + Integer.toUnsignedString(s.index())
                        + ", expected " + r.index());
            }
            return s.num();
        }
        long status = U64Payload.decode(req.name() + " ack", f.conn.receivePayload(), 0, h.size()).value();
        if (status != 0) {
            throw new VhostRefusedException(req.name(), status, "queue " + r.index());
        }
        return 0;
    }
}
