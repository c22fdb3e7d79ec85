package com.vhost.user.backend.session;

import com.vhost.api.VhostException;
import com.vhost.api.VhostProtocolException;
import com.vhost.api.user.DeviceStateDirection;
import com.vhost.api.user.VhostUserProtocolFeature;
import com.vhost.api.VringAddr;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.user.connection.VhostUserConnection;
import com.vhost.user.message.ConfigPayload;
import com.vhost.user.message.DeviceStatePayload;
import com.vhost.user.message.FrontendRequest;
import com.vhost.user.message.InflightPayload;
import com.vhost.user.message.LogPayload;
import com.vhost.user.message.MemRegionPayload;
import com.vhost.user.message.MemTablePayload;
import com.vhost.user.message.MessageHeader;
import com.vhost.user.message.SingleMemRegionPayload;
import com.vhost.user.message.U64Payload;
import com.vhost.user.message.VringAddrPayload;
import com.vhost.user.message.VringFilePayload;
import com.vhost.user.message.VringState;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Decodes and validates one front-end message, calls the one {@link FrontendRequestHandler} method
 * for its request, and writes the reply (QEMU {@code docs/interop/vhost-user.rst}; rust-vmm
 * {@code vhost_user/backend_req_handler.rs}). It knows nothing of rings or device models, so it is
 * tested with byte arrays and a recording handler.
 *
 * <p>Checks here: a known request code, no REPLY flag on a request, the payload layout (through
 * the {@code com.vhost.user.message} decoders), exactly the fds the request carries (none, one per
 * memory region, or one unless NOFD), the protocol feature a request needs (LOG_SHMFD, CONFIG,
 * CONFIGURE_MEM_SLOTS, BACKEND_REQ, RESET_DEVICE, STATUS, DEVICE_STATE, INFLIGHT_SHMFD) having been negotiated, a
 * SET_VRING_ENABLE value of 0 or 1 and an 8-bit SET_STATUS.
 *
 * <p>Fd kinds (issue #10: no fd a front-end hands over may block or spin the back-end): the fd of
 * SET_VRING_KICK, SET_VRING_CALL and SET_VRING_ERR must be an eventfd (the spec's descriptions of
 * these requests: "Set the event file descriptor ..."), a kick fd not in semaphore mode; the
 * fd of SET_BACKEND_REQ_FD must be a socket. Each is made non-blocking (O_NONBLOCK) before the
 * handler gets it, so a call or error write never blocks: when an eventfd's counter is at its
 * maximum the write fails with EAGAIN and is dropped, as the front-end already sees a non-zero
 * count. Any other kind (a pipe, a socket, a file, a memfd) is a {@link Refusal} naming the
 * request, the queue and what the fd is ("SET_VRING_CALL for queue 0: fd is a pipe (pipe:[1234]),
 * not an eventfd"), and the fd is closed at once. The rule is the one for every refusal below: with
 * NEED_REPLY the front-end gets ack 1 and the session goes on with the ring as it was (its previous
 * fd, if any); without, the session ends, the front-end having no other way to learn of it. See
 * {@link FdKinds} for how kinds are told.
 *
 * <p>Replies: GET_* requests (GET_INFLIGHT_FD with the region's fd attached), SET_LOG_BASE (LOG_SHMFD), SET_DEVICE_STATE_FD and CHECK_DEVICE_STATE
 * always get their reply;
 * any other request with NEED_REPLY gets a {@code u64} ack, 0 on success (spec "REPLY_ACK"; it is
 * sent whether or not REPLY_ACK was negotiated, as a front-end only asks when it was).
 *
 * <p>Failure policy: a malformed message throws {@link VhostProtocolException} ("malformed
 * SET_VRING_NUM: ..."), which ends the session. A {@link Refusal} is answered with ack 1 when the
 * front-end asked for an ack (and logged); without NEED_REPLY, or when the refusal is fatal, it
 * ends the session with a {@link VhostProtocolException} naming the request. Anything else the
 * handler throws passes through. Fds the dispatcher did not hand to the handler stay in the list
 * for the caller to close.
 *
 * <p>Not thread-safe: the session thread dispatches one message at a time.
 */
public final class RequestDispatcher {
    private static final Logger LOG = LoggerFactory.getLogger(RequestDispatcher.class);

    /** Sends one reply whose payload was encoded into the reply buffer. */
    @FunctionalInterface
    public interface ReplySender {
        /**
         * @param header the reply header; its {@code size} payload bytes are at the start of the
         *     reply buffer given to the dispatcher
         * @param fds fds to pass with the reply (not closed by the sender), or null
         * @throws VhostException when the reply cannot be sent (the session ends)
         */
        void send(MessageHeader header, int[] fds) throws VhostException;
    }

    private final String name;
    private final FrontendRequestHandler handler;
    private final MemorySegment reply;
    private final ReplySender sender;
    /** What SET_PROTOCOL_FEATURES acked: gates the requests that need a protocol feature. */
    private long ackedProtocol;

    /**
     * @param name for log messages, e.g. the server's socket and connection number
     * @param handler carries out each request
     * @param reply where reply payloads are encoded, at least {@link MessageHeader#MAX_PAYLOAD_SIZE} bytes
     * @param sender sends a reply header with the first {@code size} bytes of {@code reply}
     */
    public RequestDispatcher(String name, FrontendRequestHandler handler, MemorySegment reply, ReplySender sender) {
        if (reply.byteSize() < MessageHeader.MAX_PAYLOAD_SIZE) {
            throw new IllegalArgumentException("reply buffer of " + reply.byteSize() + " bytes, need " + MessageHeader.MAX_PAYLOAD_SIZE);
        }
        this.name = name;
        this.handler = handler;
        this.reply = reply;
        this.sender = sender;
    }

    /** @return a dispatcher replying on {@code conn} (its send buffer, no fds) */
    public static RequestDispatcher on(String name, FrontendRequestHandler handler, VhostUserConnection conn) {
        return new RequestDispatcher(name, handler, conn.sendPayload(), conn::send);
    }

    /**
     * Handles one received message.
     *
     * @param h the header, as {@link MessageHeader#decode} validated it
     * @param payload the message's payload; its first {@code h.size()} bytes are read
     * @param fds the fds that came with the message; those handed to the handler are removed, the
     *     rest stay for the caller to close
     * @throws VhostProtocolException for a malformed message, or a refusal that ends the session
     * @throws VhostException when the handler failed or the reply could not be sent
     */
    public void dispatch(MessageHeader h, MemorySegment payload, List<OwnedFd> fds) throws VhostException {
        FrontendRequest req;
        try {
            req = FrontendRequest.fromCode(h.request());
        } catch (VhostProtocolException e) {
            throw new VhostProtocolException("malformed message: " + e.getMessage(), e);
        }
        if (LOG.isDebugEnabled()) {
            LOG.debug("{}: {} ({} bytes, {} fds{})", name, req, h.size(), fds.size(), h.needsReply() ? ", NEED_REPLY" : "");
        }
        if (h.isReply()) {
            throw new VhostProtocolException("malformed " + req + ": a front-end request has the REPLY flag set");
        }
        boolean ownReply;
        long t0 = LOG.isTraceEnabled() ? System.nanoTime() : 0;
        try {
            ownReply = handle(req, payload, h.size(), fds);
            if (t0 != 0) {
                LOG.trace("{}: {} handled in {} us", name, req, (System.nanoTime() - t0) / 1000);
            }
        } catch (VhostProtocolException e) {
            String m = e.getMessage();
            throw new VhostProtocolException("malformed " + (m.startsWith(req.name()) ? m : req + ": " + m), e);
        } catch (Refusal e) {
            if (e.fatal()) {
                if (h.needsReply()) {
                    replyU64(req, 1);
                }
                throw new VhostProtocolException(req + " refused, cannot continue: " + e.getMessage());
            }
            if (h.needsReply()) {
                LOG.warn("{}: refusing {}: {}", name, req, e.getMessage());
                replyU64(req, 1);
                return;
            }
            throw new VhostProtocolException(req + " failed and the front-end asked for no reply: " + e.getMessage());
        }
        if (!ownReply && h.needsReply()) {
            replyU64(req, 0);
        }
    }

    /** @return true when the request sent its own reply */
    private boolean handle(FrontendRequest req, MemorySegment p, int size, List<OwnedFd> fds) throws VhostException, Refusal {
        String what = req.name();
        switch (req) {
            case GET_FEATURES -> {
                expectNoPayload(size, fds);
                replyU64(req, handler.getFeatures());
                return true;
            }
            case SET_FEATURES -> {
                long f = U64Payload.decode(what, p, 0, size).value();
                expectFds(fds, 0);
                handler.setFeatures(f);
            }
            case SET_OWNER -> {
                expectNoPayload(size, fds);
                handler.setOwner();
            }
            case RESET_OWNER -> {
                expectNoPayload(size, fds);
                handler.resetOwner();
            }
            case GET_PROTOCOL_FEATURES -> {
                expectNoPayload(size, fds);
                replyU64(req, handler.getProtocolFeatures());
                return true;
            }
            case SET_PROTOCOL_FEATURES -> {
                long f = U64Payload.decode(what, p, 0, size).value();
                expectFds(fds, 0);
                handler.setProtocolFeatures(f);
                ackedProtocol = f;
            }
            case GET_QUEUE_NUM -> {
                expectNoPayload(size, fds);
                replyU64(req, handler.getQueueNum());
                return true;
            }
            case GET_MAX_MEM_SLOTS -> {
                expectNoPayload(size, fds);
                replyU64(req, handler.getMaxMemSlots());
                return true;
            }
            case SET_MEM_TABLE -> {
                MemTablePayload t = MemTablePayload.decode(p, 0, size);
                expectFds(fds, t.regions().size());
                List<OwnedFd> owned = new ArrayList<>(fds);
                fds.clear();
                handler.setMemTable(t.regions(), owned);
            }
            case ADD_MEM_REG -> {
                MemRegionPayload r = SingleMemRegionPayload.decode(what, p, 0, size).region();
                expectFds(fds, 1);
                requireProtocol(VhostUserProtocolFeature.CONFIGURE_MEM_SLOTS, req);
                handler.addMemRegion(r, fds.removeFirst());
            }
            case REM_MEM_REG -> {
                MemRegionPayload r = SingleMemRegionPayload.decode(what, p, 0, size).region();
                requireProtocol(VhostUserProtocolFeature.CONFIGURE_MEM_SLOTS, req);
                if (fds.size() > 1) {
                    throw new VhostProtocolException("REM_MEM_REG carried " + fds.size() + " fds, expected at most 1");
                }
                closeAll(fds); // older front-ends attach the region's fd; it is not needed to unmap
                handler.removeMemRegion(r);
            }
            case SET_LOG_BASE -> {
                requireProtocol(VhostUserProtocolFeature.LOG_SHMFD, req);
                LogPayload l = LogPayload.decode(p, 0, size);
                expectFds(fds, 1);
                handler.setLogBase(l.mmapSize(), l.mmapOffset(), fds.removeFirst());
                // "the back-end replies once the log is mapped": a u64 0 (QEMU reads a reply and
                // ignores its payload; a refusal follows the rule above)
                replyU64(req, 0);
                return true;
            }
            case GET_INFLIGHT_FD -> {
                requireProtocol(VhostUserProtocolFeature.INFLIGHT_SHMFD, req);
                InflightPayload q = InflightPayload.decode(what, p, 0, size);
                expectFds(fds, 0);
                FrontendRequestHandler.InflightAnswer a = handler.getInflightFd(q.numQueues(), q.queueSize());
                try (OwnedFd fd = a.fd()) {
                    int n = a.payload().encode(reply, 0);
                    // no fd with mmap_size 0: no region (packed rings), QEMU then tracks nothing
                    sender.send(MessageHeader.reply(req.code(), n), fd == null ? null : new int[] {fd.fd()});
                }
                return true;
            }
            case SET_INFLIGHT_FD -> {
                requireProtocol(VhostUserProtocolFeature.INFLIGHT_SHMFD, req);
                InflightPayload q = InflightPayload.decode(what, p, 0, size);
                expectFds(fds, 1);
                handler.setInflightFd(q, fds.removeFirst());
            }
            case SET_VRING_NUM -> {
                VringState s = VringState.decode(what, p, 0, size);
                expectFds(fds, 0);
                handler.setVringNum(s.index(), s.num());
            }
            case SET_VRING_ADDR -> {
                VringAddr a = VringAddrPayload.decode(p, 0, size);
                expectFds(fds, 0);
                handler.setVringAddr(a);
            }
            case SET_VRING_BASE -> {
                VringState s = VringState.decode(what, p, 0, size);
                expectFds(fds, 0);
                handler.setVringBase(s.index(), s.num());
            }
            case GET_VRING_BASE -> {
                VringState s = VringState.decode(what, p, 0, size);
                expectFds(fds, 0);
                int base = handler.getVringBase(s.index());
                send(req, new VringState(s.index(), base).encode(reply, 0));
                return true;
            }
            case SET_VRING_KICK -> {
                VringFilePayload f = VringFilePayload.decode(what, p, 0, size);
                expectFds(fds, f.noFd() ? 0 : 1);
                handler.setVringKick(f.index(), f.noFd() ? null : eventFd(req, f.index(), fds, true));
            }
            case SET_VRING_CALL -> {
                VringFilePayload f = VringFilePayload.decode(what, p, 0, size);
                expectFds(fds, f.noFd() ? 0 : 1);
                handler.setVringCall(f.index(), f.noFd() ? null : eventFd(req, f.index(), fds, false));
            }
            case SET_VRING_ERR -> {
                VringFilePayload f = VringFilePayload.decode(what, p, 0, size);
                expectFds(fds, f.noFd() ? 0 : 1);
                handler.setVringErr(f.index(), f.noFd() ? null : eventFd(req, f.index(), fds, false));
            }
            case SET_VRING_ENABLE -> {
                VringState s = VringState.decode(what, p, 0, size);
                expectFds(fds, 0);
                if (s.num() != 0 && s.num() != 1) {
                    throw new Refusal("queue " + Integer.toUnsignedString(s.index()) + ": enable value "
                            + Integer.toUnsignedString(s.num()) + " is neither 0 nor 1");
                }
                handler.setVringEnable(s.index(), s.num() == 1);
            }
            case GET_CONFIG -> {
                requireProtocol(VhostUserProtocolFeature.CONFIG, req);
                ConfigPayload c = ConfigPayload.decode(what, p, 0, size);
                expectFds(fds, 0);
                byte[] data = handler.getConfig(c.offset(), c.size());
                if (data.length != c.size()) {
                    throw new IllegalStateException("GET_CONFIG handler returned " + data.length + " bytes for " + c.size());
                }
                send(req, new ConfigPayload(c.offset(), c.flags(), data).encode(reply, 0));
                return true;
            }
            case SET_CONFIG -> {
                requireProtocol(VhostUserProtocolFeature.CONFIG, req);
                ConfigPayload c = ConfigPayload.decode(what, p, 0, size);
                expectFds(fds, 0);
                handler.setConfig(c.offset(), c.flags(), c.data());
            }
            case SET_BACKEND_REQ_FD -> {
                requireProtocol(VhostUserProtocolFeature.BACKEND_REQ, req);
                if (size != 0 && size != U64Payload.SIZE) {
                    throw new VhostProtocolException("payload size " + size + " bytes, expected 0 (or a legacy 8)");
                }
                expectFds(fds, 1);
                OwnedFd channel = fds.removeFirst();
                FdKinds.requireSocket(what, channel);
                handler.setBackendReqFd(channel);
            }
            case RESET_DEVICE -> {
                requireProtocol(VhostUserProtocolFeature.RESET_DEVICE, req);
                expectNoPayload(size, fds);
                handler.resetDevice();
            }
            case SET_STATUS -> {
                requireProtocol(VhostUserProtocolFeature.STATUS, req);
                long v = U64Payload.decode(what, p, 0, size).value();
                expectFds(fds, 0);
                if ((v & ~0xFFL) != 0) {
                    throw new Refusal("status 0x" + Long.toHexString(v) + " is not an 8-bit device status");
                }
                handler.setStatus((int) v);
            }
            case GET_STATUS -> {
                requireProtocol(VhostUserProtocolFeature.STATUS, req);
                expectNoPayload(size, fds);
                replyU64(req, handler.getStatus());
                return true;
            }
            case SET_DEVICE_STATE_FD -> {
                requireProtocol(VhostUserProtocolFeature.DEVICE_STATE, req);
                DeviceStatePayload d = DeviceStatePayload.decode(p, 0, size);
                expectFds(fds, 1);
                replyU64(req, handler.setDeviceStateFd(DeviceStateDirection.fromCode(d.direction()), fds.removeFirst()));
                return true;
            }
            case CHECK_DEVICE_STATE -> {
                requireProtocol(VhostUserProtocolFeature.DEVICE_STATE, req);
                expectNoPayload(size, fds);
                replyU64(req, handler.checkDeviceState());
                return true;
            }
            default -> throw new Refusal(req + " is not supported by this back-end (its protocol feature was not offered)");
        }
        return false;
    }

    /**
     * The one fd of a SET_VRING_KICK/CALL/ERR, taken from {@code fds} once {@link FdKinds} found
     * it an eventfd (made non-blocking); otherwise it is closed and the request refused.
     */
    private static OwnedFd eventFd(FrontendRequest req, int index, List<OwnedFd> fds, boolean kick) throws Refusal {
        OwnedFd fd = fds.removeFirst();
        FdKinds.requireEventFd(req.name(), index, fd, kick);
        return fd;
    }

    private void requireProtocol(VhostUserProtocolFeature f, FrontendRequest req) throws Refusal {
        if (!f.in(ackedProtocol)) {
            throw new Refusal(req + " needs protocol feature " + f + ", which was not negotiated");
        }
    }

    private void replyU64(FrontendRequest req, long v) throws VhostException {
        send(req, new U64Payload(v).encode(reply, 0));
    }

    private void send(FrontendRequest req, int size) throws VhostException {
        sender.send(MessageHeader.reply(req.code(), size), null);
    }

    private static void expectNoPayload(int size, List<OwnedFd> fds) throws VhostProtocolException {
        if (size != 0) {
            throw new VhostProtocolException("payload of " + size + " bytes, expected none");
        }
        expectFds(fds, 0);
    }

    private static void expectFds(List<OwnedFd> fds, int n) throws VhostProtocolException {
        if (fds.size() != n) {
            throw new VhostProtocolException("carried " + fds.size() + " fds, expected " + n);
        }
    }

    private static void closeAll(List<OwnedFd> fds) {
        for (OwnedFd fd : fds) {
            fd.close();
        }
        fds.clear();
    }
}
