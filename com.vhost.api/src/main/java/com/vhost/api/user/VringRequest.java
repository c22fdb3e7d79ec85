package com.vhost.api.user;

import com.vhost.api.VhostException;
import com.vhost.api.VringAddr;
import java.util.Objects;

/**
 * One ring request of a {@link VhostUserBackend#pipeline} batch (vhost-user spec, "Front-end
 * message types": SET_VRING_NUM, SET_VRING_BASE, SET_VRING_ADDR, SET_VRING_CALL, SET_VRING_KICK,
 * SET_VRING_ENABLE, GET_VRING_BASE). Build one with the factories.
 *
 * @param type the request
 * @param index the queue index
 * @param value SET_VRING_NUM: the ring size (entries); SET_VRING_BASE: the next avail index;
 *     SET_VRING_ENABLE: 1 enable, 0 disable; otherwise 0
 * @param fd SET_VRING_CALL / SET_VRING_KICK: the eventfd sent with the message (-1: none, the
 *     "invalid fd" flag); otherwise -1
 * @param addr SET_VRING_ADDR: the addresses; otherwise null
 */
public record VringRequest(Type type, int index, long value, int fd, VringAddr addr) {
    /** The ring requests a batch can carry. */
    public enum Type {
        SET_VRING_NUM, SET_VRING_BASE, SET_VRING_ADDR, SET_VRING_CALL, SET_VRING_KICK, SET_VRING_ENABLE, GET_VRING_BASE
    }

    /**
     * @throws NullPointerException when {@code type} is null, or {@code addr} is null for SET_VRING_ADDR
     * @throws IllegalArgumentException when {@code index} is negative, or differs from {@code addr}'s
     */
    public VringRequest {
        Objects.requireNonNull(type, "type");
        if (index < 0) {
            throw new IllegalArgumentException(type + ": negative queue index " + index);
        }
        if (type == Type.SET_VRING_ADDR && Objects.requireNonNull(addr, "addr").index() != index) {
            throw new IllegalArgumentException("SET_VRING_ADDR: addresses of queue " + addr.index() + " for queue " + index);
        }
    }

    /** @return SET_VRING_NUM of queue {@code index} with {@code num} entries */
    public static VringRequest num(int index, int num) {
        return new VringRequest(Type.SET_VRING_NUM, index, num, -1, null);
    }

    /** @return SET_VRING_BASE of queue {@code index} at next avail index {@code base} */
    public static VringRequest base(int index, int base) {
        return new VringRequest(Type.SET_VRING_BASE, index, base, -1, null);
    }

    /** @return SET_VRING_ADDR with {@code addr} */
    public static VringRequest addr(VringAddr addr) {
        return new VringRequest(Type.SET_VRING_ADDR, addr.index(), 0, -1, addr);
    }

    /** @return SET_VRING_CALL of queue {@code index} with eventfd {@code fd} (-1: none) */
    public static VringRequest call(int index, int fd) {
        return new VringRequest(Type.SET_VRING_CALL, index, 0, fd, null);
    }

    /** @return SET_VRING_KICK of queue {@code index} with eventfd {@code fd} (-1: none) */
    public static VringRequest kick(int index, int fd) {
        return new VringRequest(Type.SET_VRING_KICK, index, 0, fd, null);
    }

    /** @return SET_VRING_ENABLE of queue {@code index} */
    public static VringRequest enable(int index, boolean enable) {
        return new VringRequest(Type.SET_VRING_ENABLE, index, enable ? 1 : 0, -1, null);
    }

    /** @return GET_VRING_BASE of queue {@code index} (stops the ring) */
    public static VringRequest getBase(int index) {
        return new VringRequest(Type.GET_VRING_BASE, index, 0, -1, null);
    }

    /**
     * Runs this request alone, through {@code backend}'s own method for it.
     *
     * @return GET_VRING_BASE: the next avail index; otherwise 0
     * @throws VhostException as that method does
     */
    public long runOn(VhostUserBackend backend) throws VhostException {
        switch (type) {
            case SET_VRING_NUM -> backend.setVringNum(index, (int) value);
            case SET_VRING_BASE -> backend.setVringBase(index, (int) value);
            case SET_VRING_ADDR -> backend.setVringAddr(addr);
            case SET_VRING_CALL -> backend.setVringCall(index, fd);
            case SET_VRING_KICK -> backend.setVringKick(index, fd);
            case SET_VRING_ENABLE -> backend.setVringEnable(index, value != 0);
            case GET_VRING_BASE -> {
                return backend.getVringBase(index);
            }
        }
        return 0;
    }

    /** @return e.g. {@code "SET_VRING_KICK for queue 1"}, as failures name a request */
    public String describe() {
        return type.name() + " for queue " + index;
    }
}
