package com.vhost.devices.net.driver;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link TransmitOrder}: what a packed transmit ring's fresh restart places again is exactly the
 * slots still in flight, in the order they were sent, whatever the completions' order and however
 * often slots are reused (against a plain list model, random steps).
 */
class TransmitOrderTest {
    private static int[] inFlight(TransmitOrder o, int size) {
        int[] out = new int[size];
        return Arrays.copyOf(out, o.inFlight(out));
    }

    @Test
    void inOrderCompletionsLeaveTheNewestFramesInSendOrder() {
        TransmitOrder o = new TransmitOrder(4);
        o.sent(3, 60);
        o.sent(1, 61);
        o.sent(0, 62);
        o.completed(3);
        assertThat(inFlight(o, 4)).containsExactly(1, 0);
        assertThat(o.length(0)).isEqualTo(62);
        o.sent(3, 63); // slot 3 reused: its new entry comes last, its old one is not live
        assertThat(inFlight(o, 4)).containsExactly(1, 0, 3);
        o.clear();
        assertThat(inFlight(o, 4)).isEmpty();
    }

    @Test
    void randomSendsAndOutOfOrderCompletionsMatchAListModel() {
        int size = 8;
        Random r = new Random(7);
        TransmitOrder o = new TransmitOrder(size);
        ArrayDeque<Integer> free = new ArrayDeque<>();
        for (int i = 0; i < size; i++) {
            free.add(i);
        }
        List<Integer> model = new ArrayList<>(); // slots in flight, send order
        for (int step = 0; step < 20_000; step++) {
            if (!free.isEmpty() && (model.isEmpty() || r.nextInt(3) > 0)) {
                int slot = free.poll();
                o.sent(slot, 60 + slot);
                model.add(slot);
            } else {
                // out of order half of the time: a head-of-line frame stays while later ones complete
                int k = r.nextBoolean() ? 0 : r.nextInt(model.size());
                int slot = model.remove(k);
                o.completed(slot);
                free.add(slot);
            }
            int[] got = inFlight(o, size);
            assertThat(got).as("step %d", step).containsExactly(model.stream().mapToInt(Integer::intValue).toArray());
        }
    }
}
