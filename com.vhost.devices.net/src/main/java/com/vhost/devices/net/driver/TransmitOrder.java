package com.vhost.devices.net.driver;

/**
 * The transmit slots of one queue pair in flight, in the order they were sent, so that a packed
 * transmit ring restarted fresh on a new back-end (VIRTIO 1.2 2.8: no index on the old ring says
 * what the old back-end took) gets every frame it still owed placed again, in order, instead of
 * losing them. Allocation-free on the data path: one entry per frame sent, completed entries
 * dropped lazily from the head (and by a compaction when completions come out of order). An
 * entry names its slot and the slot's send sequence, so a slot sent again after completing is not
 * mistaken for its old entry. Not thread-safe: the pair's lock guards it.
 */
final class TransmitOrder {
    private final int[] slotAt;
    private final int[] seqAt;
    private final int[] seqOf;
    private final int[] lengthOf;
    private final boolean[] pending;
    /** The ring size minus one: the net driver's queue sizes are powers of two, so no division on the data path. */
    private final int mask;
    private int head;
    private int count;
    private int nextSeq;

    /**
     * @param size slots (the ring size, a power of two)
     * @throws IllegalArgumentException when {@code size} is not a power of two
     */
    TransmitOrder(int size) {
        if (size < 1 || Integer.bitCount(size) != 1) {
            throw new IllegalArgumentException("transmit ring size " + size + " is not a power of two");
        }
        mask = size - 1;
        slotAt = new int[size];
        seqAt = new int[size];
        seqOf = new int[size];
        lengthOf = new int[size];
        pending = new boolean[size];
    }

    /** Slot {@code slot} was placed on the ring with a frame of {@code length} bytes. */
    void sent(int slot, int length) {
        while (count > 0 && !live(head)) {
            head = (head + 1) & mask;
            count--;
        }
        if (count == slotAt.length) {
            compact();
        }
        int seq = ++nextSeq;
        int at = (head + count) & mask;
        slotAt[at] = slot;
        seqAt[at] = seq;
        seqOf[slot] = seq;
        lengthOf[slot] = length;
        pending[slot] = true;
        count++;
    }

    /** The device returned slot {@code slot}. */
    void completed(int slot) {
        pending[slot] = false;
    }

    /** @return the frame length sent in {@code slot} */
    int length(int slot) {
        return lengthOf[slot];
    }

    /**
     * @param out receives the slots still in flight, oldest first (at least as long as the ring)
     * @return how many
     */
    int inFlight(int[] out) {
        int n = 0;
        for (int k = 0; k < count; k++) {
            int at = (head + k) & mask;
            if (live(at)) {
                out[n++] = slotAt[at];
            }
        }
        return n;
    }

    /** Forgets every slot (the ring was reset with its frames dropped). */
    void clear() {
        java.util.Arrays.fill(pending, false);
        head = 0;
        count = 0;
    }

    private boolean live(int at) {
        int s = slotAt[at];
        return pending[s] && seqOf[s] == seqAt[at];
    }

    /**
     * Keeps only the live entries, in order, in place (a full ring of entries with completed ones
     * among them: completions out of order). A live entry always exists less than the ring size
     * (a slot is free for the frame being sent), so room is made.
     */
    private void compact() {
        int n = 0;
        for (int k = 0; k < count; k++) {
            int at = (head + k) & mask;
            if (live(at)) {
                int to = (head + n) & mask; // never ahead of at
                slotAt[to] = slotAt[at];
                seqAt[to] = seqAt[at];
                n++;
            }
        }
        count = n;
    }
}
