package com.vhost.user.testing;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.net.NetDevice;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Sequence-numbered test frames for net tests: broadcast destination, source 02:07:08:09:0a:0b,
 * ethertype 0x88b5 (local experimental), a big-endian sequence number, then a pattern derived from
 * it. {@link #intact} checks everything from the ethertype on, so a peer that swaps the MACs
 * (testpmd macswap) still passes.
 */
public final class NetFrames {
    private static final ValueLayout.OfInt BE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    /** The source MAC of {@link #fill}. */
    public static final byte[] SRC_MAC = {0x02, 0x07, 0x08, 0x09, 0x0a, 0x0b};

    private NetFrames() {}

    /** Frame {@code seq}: broadcast destination, source MAC, ethertype 0x88b5, seq, payload pattern. */
    public static int fill(MemorySegment f, int seq, int len) {
        for (int i = 0; i < 6; i++) {
            f.set(ValueLayout.JAVA_BYTE, i, (byte) 0xFF);
        }
        for (int i = 0; i < 6; i++) {
            f.set(ValueLayout.JAVA_BYTE, 6 + i, SRC_MAC[i]);
        }
        f.set(ValueLayout.JAVA_BYTE, 12, (byte) 0x88);
        f.set(ValueLayout.JAVA_BYTE, 13, (byte) 0xB5);
        f.set(BE32, 14, seq);
        for (int i = 18; i < len; i++) {
            f.set(ValueLayout.JAVA_BYTE, i, (byte) (seq * 31 + i));
        }
        return len;
    }

    public static boolean intact(MemorySegment f, int len, int seq) {
        if (f.get(BE32, 14) != seq || f.get(ValueLayout.JAVA_BYTE, 12) != (byte) 0x88) {
            return false;
        }
        for (int i = 18; i < len; i++) {
            if (f.get(ValueLayout.JAVA_BYTE, i) != (byte) (seq * 31 + i)) {
                return false;
            }
        }
        return true;
    }

    public static int sizeOf(int seq) {
        return 60 + (seq * 97) % (1514 - 60 + 1);
    }

    /** Sends {@code n} frames in bursts on {@code pair} and checks each comes back in order. */
    public static void echo(NetDevice net, int pair, int n, int burst) throws Exception {
        echo(net, pair, n, burst, false);
    }

    /** @return whether the destination is {@link #SRC_MAC} and the source broadcast (testpmd macswap) */
    public static boolean macsSwapped(MemorySegment f) {
        for (int i = 0; i < 6; i++) {
            if (f.get(ValueLayout.JAVA_BYTE, i) != SRC_MAC[i] || f.get(ValueLayout.JAVA_BYTE, 6 + i) != (byte) 0xFF) {
                return false;
            }
        }
        return true;
    }

    /**
     * Sends {@code n} frames of {@link #sizeOf} bytes in bursts of {@code burst} on {@code pair},
     * and checks each comes back intact and in order (with the MACs swapped when {@code swapped}).
     */
    public static void echo(NetDevice net, int pair, int n, int burst, boolean swapped) throws Exception {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment[] tx = new MemorySegment[burst];
            MemorySegment[] rx = new MemorySegment[burst];
            int[] txLen = new int[burst];
            int[] rxLen = new int[burst];
            for (int i = 0; i < burst; i++) {
                tx[i] = a.allocate(2048);
                rx[i] = a.allocate(2048);
            }
            int sent = 0;
            int received = 0;
            while (received < n) {
                int b = Math.min(burst, n - sent);
                for (int i = 0; i < b; i++) {
                    txLen[i] = fill(tx[i], sent + i, sizeOf(sent + i));
                }
                int s = b > 0 ? net.transmit(pair, tx, txLen, b) : 0;
                sent += s;
                long deadline = System.nanoTime() + 5_000_000_000L;
                while (received < sent) {
                    assertThat(net.awaitReceive(pair, 1_000_000_000L) || System.nanoTime() < deadline)
                            .as("frames come back on pair %d (%d of %d received)", pair, received, sent).isTrue();
                    int r = net.receive(pair, rx, rxLen, burst);
                    for (int i = 0; i < r; i++) {
                        int seq = received + i;
                        assertThat(rxLen[i]).as("length of frame %d", seq).isEqualTo(sizeOf(seq));
                        assertThat(intact(rx[i], rxLen[i], seq)).as("frame %d intact and in order", seq).isTrue();
                        if (swapped) {
                            assertThat(macsSwapped(rx[i])).as("frame %d has its MACs swapped", seq).isTrue();
                        }
                    }
                    received += r;
                }
            }
        }
    }

}
