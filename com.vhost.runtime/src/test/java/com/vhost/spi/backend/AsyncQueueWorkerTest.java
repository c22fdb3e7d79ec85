package com.vhost.spi.backend;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.testing.RecordingInterrupt;
import com.vhost.spi.testing.TestGuestMemory;
import com.vhost.spi.testing.TestRingDriver;
import com.vhost.spi.testing.TestRingDriver.Buf;
import com.vhost.spi.virtqueue.DescriptorChain;
import com.vhost.spi.virtqueue.DeviceQueue;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link QueueWorker} with an {@link AsyncHandler}: requests popped by {@code process} stay in
 * flight until the test "completes" them by signalling the queue's completion eventfd; the worker
 * then calls {@code complete} (which uses them newest first: out of order) and signals the used
 * queue; removing a queue or stopping the worker drains what is still in flight first.
 */
class AsyncQueueWorkerTest {
    private final TestGuestMemory mem = new TestGuestMemory(0x10000, 0x80000);
    private final TestRingDriver d0 = new TestRingDriver(mem, 0, 16, 0x10000, 0x40000);
    private final RecordingInterrupt irq = new RecordingInterrupt();
    private QueueWorker worker;

    /** Keeps popped heads in flight; completes them newest first. */
    private static final class Deferred implements AsyncHandler {
        final EventFd done;
        final List<Integer> inFlight = new ArrayList<>();
        final List<Integer> popped = new CopyOnWriteArrayList<>();
        final List<String> calls = new CopyOnWriteArrayList<>();
        final DescriptorChain c = new DescriptorChain(16);

        Deferred(EventFd done) {
            this.done = done;
        }

        @Override
        public int completionFd(int queueIndex) {
            return done.fd();
        }

        @Override
        public void process(int queueIndex, DeviceQueue q) throws com.vhost.api.VirtqueueException {
            while (q.pop(c)) {
                inFlight.add(c.head());
                popped.add(c.head());
            }
        }

        @Override
        public void complete(int queueIndex, DeviceQueue q) throws com.vhost.api.VirtqueueException {
            calls.add("complete");
            try {
                done.drain();
            } catch (com.vhost.api.VhostNativeException e) {
                throw new IllegalStateException(e);
            }
            finish(q);
        }

        @Override
        public void drain(int queueIndex, DeviceQueue q) throws com.vhost.api.VirtqueueException {
            calls.add("drain " + inFlight.size());
            finish(q);
        }

        private void finish(DeviceQueue q) throws com.vhost.api.VirtqueueException {
            for (int i = inFlight.size() - 1; i >= 0; i--) {
                q.addUsed(inFlight.remove(i), 0);
            }
        }
    }

    @AfterEach
    void tearDown() throws Exception {
        if (worker != null) {
            worker.stop(2000);
        }
        mem.close();
    }

    private void submit(int n) {
        for (int i = 0; i < n; i++) {
            d0.submit(new Buf(d0.alloc(8), 8, true));
        }
    }

    @Test
    void completionsAreServedWhenTheCompletionFdFiresInAnyOrder() throws Exception {
        try (EventFd kick = EventFd.create(); EventFd done = EventFd.create()) {
            Deferred h = new Deferred(done);
            DeviceQueue q = new DeviceQueue(mem, d0.config(kick.fd(), -1), 0);
            worker = new QueueWorker("test-async", List.of(q), h, irq);
            worker.start();
            submit(3);
            kick.signal();
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (q.nextAvail() < 3 && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            assertThat(q.nextAvail()).isEqualTo(3);
            assertThat(d0.usedIdx()).as("nothing completed before the completion fd").isZero();
            done.signal();
            assertThat(d0.awaitUsed(3, 5000)).isTrue();
            assertThat(List.of(d0.usedId(0), d0.usedId(1), d0.usedId(2))).as("newest first")
                    .containsExactly(h.popped.get(2), h.popped.get(1), h.popped.get(0));
            assertThat(h.popped).doesNotHaveDuplicates();
            assertThat(irq.awaitUsedSignals(0, 1, 5000)).isPositive();
            assertThat(h.calls).contains("complete");
        }
    }

    @Test
    void removingTheQueueOrStoppingTheWorkerDrainsWhatIsInFlight() throws Exception {
        try (EventFd kick = EventFd.create(); EventFd done = EventFd.create()) {
            Deferred h = new Deferred(done);
            DeviceQueue q = new DeviceQueue(mem, d0.config(kick.fd(), -1), 0);
            worker = new QueueWorker("test-async-drain", List.of(q), h, irq);
            worker.start();
            submit(2);
            kick.signal();
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (q.nextAvail() < 2 && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            DeviceQueue removed = worker.removeQueue(0, 2000);
            assertThat(removed).isSameAs(q);
            assertThat(h.calls).containsExactly("drain 2");
            assertThat(d0.usedIdx()).as("both completed before the ring was let go").isEqualTo(2);
            assertThat(removed.nextAvail()).isEqualTo(2);

            worker.addQueue(q, 2000);
            submit(1);
            kick.signal();
            deadline = System.nanoTime() + 5_000_000_000L;
            while (q.nextAvail() < 3 && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            worker.stop(2000);
            assertThat(h.calls).containsExactly("drain 2", "drain 1");
            assertThat(d0.usedIdx()).isEqualTo(3);
        }
    }
}
