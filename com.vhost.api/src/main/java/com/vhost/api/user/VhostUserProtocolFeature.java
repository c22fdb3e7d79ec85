package com.vhost.api.user;

/**
 * vhost-user protocol feature bits ({@code VHOST_USER_PROTOCOL_F_*}, QEMU
 * {@code docs/interop/vhost-user.rst}, "Protocol features"). Bits 20 and above have moved between
 * drafts and are deliberately absent.
 */
public enum VhostUserProtocolFeature {
    MQ(0), LOG_SHMFD(1), RARP(2), REPLY_ACK(3), MTU(4), BACKEND_REQ(5), CROSS_ENDIAN(6),
    CRYPTO_SESSION(7), PAGEFAULT(8), CONFIG(9), BACKEND_SEND_FD(10), HOST_NOTIFIER(11),
    INFLIGHT_SHMFD(12), RESET_DEVICE(13), INBAND_NOTIFICATIONS(14), CONFIGURE_MEM_SLOTS(15),
    STATUS(16), XEN_MMAP(17), SHARED_OBJECT(18), DEVICE_STATE(19);

    private final int bit;

    VhostUserProtocolFeature(int bit) {
        this.bit = bit;
    }

    /** @return the bit number */
    public int bit() {
        return bit;
    }

    /** @return {@code 1L << bit()} */
    public long mask() {
        return 1L << bit;
    }

    /** @return whether {@code features} has this bit */
    public boolean in(long features) {
        return (features & mask()) != 0;
    }

    /** @return a readable list such as {@code MQ|REPLY_ACK|CONFIG|0x100000} */
    public static String describe(long features) {
        StringBuilder sb = new StringBuilder();
        long rest = features;
        for (VhostUserProtocolFeature f : values()) {
            if (f.in(features)) {
                sb.append(sb.isEmpty() ? "" : "|").append(f.name());
                rest &= ~f.mask();
            }
        }
        if (rest != 0) {
            sb.append(sb.isEmpty() ? "" : "|").append("0x").append(Long.toHexString(rest));
        }
        return sb.isEmpty() ? "none" : sb.toString();
    }
}
