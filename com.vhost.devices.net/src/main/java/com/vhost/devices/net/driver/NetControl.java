package com.vhost.devices.net.driver;

import com.vhost.api.VhostException;
import com.vhost.api.net.VirtioNet;
import com.vhost.api.virtio.VirtioFeatures;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The device side of the virtio-net control virtqueue (OASIS VIRTIO 1.2, section 5.1.6.5), run by
 * the front-end itself as QEMU ({@code virtio_net_handle_ctrl}) and DPDK
 * ({@code virtio_user_handle_cq}) do: a vhost back-end has no control queue.
 *
 * <p>A command is {@code u8 class; u8 command;} then the command's data; the answer is one ack
 * byte, {@link VirtioNet#CTRL_OK} or {@link VirtioNet#CTRL_ERR}. Accepted (each only with its
 * feature negotiated):
 * <ul>
 *   <li>RX (CTRL_RX): PROMISC, ALLMULTI, ALLUNI, NOMULTI, NOUNI, NOBCAST with one data byte 0 or 1;</li>
 *   <li>MAC (CTRL_VQ): TABLE_SET {@code le32 n; n × 6 bytes; le32 m; m × 6 bytes} (exact length);
 *       ADDR_SET (CTRL_MAC_ADDR) with 6 bytes, not a multicast address;</li>
 *   <li>MQ (MQ): VQ_PAIRS_SET with {@code le16 pairs} in 1..max pairs.</li>
 * </ul>
 * Anything else (unknown class or command, wrong data length, value out of range, a target that
 * failed) is answered ERR, counted in {@link #errors()}, and described by {@link #lastError()}.
 * Not thread-safe: one control queue worker at a time.
 */
public final class NetControl {
    private static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt LE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** What the commands change. */
    public interface Target {
        /** Enables pairs {@code 0..pairs-1} and disables the rest. */
        void setQueuePairs(int pairs) throws VhostException;

        /** @param mac 6 bytes */
        void setMac(byte[] mac) throws VhostException;

        /** @param command one of {@code VirtioNet.CTRL_RX_*} */
        void setRxMode(int command, boolean on);

        /** Records the MAC filter table sizes (this platform does not filter). */
        void setMacTable(int unicast, int multicast);
    }

    private final Target target;
    private final int maxPairs;
    private volatile long features;
    private volatile long commands;
    private volatile long errors;
    private volatile String lastError = "";

    /**
     * @param target receives the accepted commands
     * @param maxPairs the device's {@code max_virtqueue_pairs}
     */
    public NetControl(Target target, int maxPairs) {
        this.target = target;
        this.maxPairs = maxPairs;
    }

    /** Sets the negotiated features that decide which classes are accepted. */
    public void setFeatures(long acked) {
        this.features = acked;
    }

    /** @return commands executed, accepted or not */
    public long commands() {
        return commands;
    }

    /** @return commands answered ERR */
    public long errors() {
        return errors;
    }

    /** @return why the last ERR was answered ("" when none was) */
    public String lastError() {
        return lastError;
    }

    /**
     * Executes one command.
     *
     * @param cmd the command bytes (class, command, data)
     * @param len bytes of {@code cmd} that belong to the command
     * @return {@link VirtioNet#CTRL_OK} or {@link VirtioNet#CTRL_ERR}
     */
    public int execute(MemorySegment cmd, long len) {
        commands++;
        if (len < VirtioNet.CTRL_HDR_SIZE) {
            return err("control command of " + len + " bytes lacks class and command");
        }
        int cls = Byte.toUnsignedInt(cmd.get(ValueLayout.JAVA_BYTE, 0));
        int op = Byte.toUnsignedInt(cmd.get(ValueLayout.JAVA_BYTE, 1));
        long dlen = len - VirtioNet.CTRL_HDR_SIZE;
        try {
            switch (cls) {
                case VirtioNet.CTRL_RX -> {
                    if (!has(VirtioNet.F_CTRL_RX)) {
                        return err("class RX without VIRTIO_NET_F_CTRL_RX negotiated");
                    }
                    if (op > VirtioNet.CTRL_RX_NOBCAST) {
                        return err("class RX: unknown command " + op);
                    }
                    if (dlen != 1) {
                        return err("class RX command " + op + ": " + dlen + " data bytes, 1 wanted");
                    }
                    int v = Byte.toUnsignedInt(cmd.get(ValueLayout.JAVA_BYTE, 2));
                    if (v > 1) {
                        return err("class RX command " + op + ": value " + v + " is not 0 or 1");
                    }
                    target.setRxMode(op, v == 1);
                    return VirtioNet.CTRL_OK;
                }
                case VirtioNet.CTRL_MAC -> {
                    if (op == VirtioNet.CTRL_MAC_ADDR_SET) {
                        if (!has(VirtioNet.F_CTRL_MAC_ADDR)) {
                            return err("MAC ADDR_SET without VIRTIO_NET_F_CTRL_MAC_ADDR negotiated");
                        }
                        if (dlen != VirtioNet.MAC_BYTES) {
                            return err("MAC ADDR_SET: " + dlen + " data bytes, 6 wanted");
                        }
                        byte[] mac = cmd.asSlice(2, 6).toArray(ValueLayout.JAVA_BYTE);
                        if ((mac[0] & 1) != 0) {
                            return err("MAC ADDR_SET: " + NetMacs.format(mac) + " is a multicast address");
                        }
                        target.setMac(mac);
                        return VirtioNet.CTRL_OK;
                    }
                    if (op == VirtioNet.CTRL_MAC_TABLE_SET) {
                        if (dlen < 8) {
                            return err("MAC TABLE_SET: " + dlen + " data bytes, at least 8 wanted");
                        }
                        long n = Integer.toUnsignedLong(cmd.get(LE32, 2));
                        long at = 6 + n * 6;
                        if (n > 4096 || at + 4 > len) {
                            return err("MAC TABLE_SET: unicast table of " + n + " entries exceeds the " + dlen + " data bytes");
                        }
                        long m = Integer.toUnsignedLong(cmd.get(LE32, at));
                        if (m > 4096 || at + 4 + m * 6 != len) {
                            return err("MAC TABLE_SET: " + n + " unicast + " + m + " multicast entries do not fill the "
                                    + dlen + " data bytes");
                        }
                        target.setMacTable((int) n, (int) m);
                        return VirtioNet.CTRL_OK;
                    }
                    return err("class MAC: unknown command " + op);
                }
                case VirtioNet.CTRL_MQ -> {
                    if (!has(VirtioNet.F_MQ)) {
                        return err("class MQ without VIRTIO_NET_F_MQ negotiated");
                    }
                    if (op != VirtioNet.CTRL_MQ_VQ_PAIRS_SET) {
                        return err("class MQ: unknown command " + op);
                    }
                    if (dlen != 2) {
                        return err("MQ VQ_PAIRS_SET: " + dlen + " data bytes, 2 wanted");
                    }
                    int pairs = Short.toUnsignedInt(cmd.get(LE16, 2));
                    if (pairs < VirtioNet.CTRL_MQ_VQ_PAIRS_MIN || pairs > maxPairs) {
                        return err("MQ VQ_PAIRS_SET: " + pairs + " pairs outside 1.." + maxPairs);
                    }
                    target.setQueuePairs(pairs);
                    return VirtioNet.CTRL_OK;
                }
                default -> {
                    return err("unknown class " + cls + " (command " + op + ")");
                }
            }
        } catch (VhostException | RuntimeException e) {
            return err("class " + cls + " command " + op + " failed: " + e.getMessage());
        }
    }

    private boolean has(int bit) {
        return VirtioFeatures.has(features, bit);
    }

    private int err(String why) {
        errors++;
        lastError = why;
        return VirtioNet.CTRL_ERR;
    }
}
