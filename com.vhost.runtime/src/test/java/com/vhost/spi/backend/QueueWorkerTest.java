package com.vhost.spi.backend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.vhost.api.VhostTimeoutException;
import com.vhost.api.VirtqueueException;
import com.vhost.spi.nativeio.EventFd;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.OwnedFd;
import com.vhost.spi.nativeio.UnixSocket;
import com.vhost.spi.nativeio.SharedMemory;
import com.vhost.spi.testing.RecordingInterrupt;
import com.vhost.spi.testing.TestGuestMemory;
import com.vhost.spi.testing.TestRingDriver;
import com.vhost.spi.testing.TestRingDriver.Buf;
import com.vhost.spi.virtqueue.DescriptorChain;
import com.vhost.spi.virtqueue.DeviceQueue;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class QueueWorkerTest {
    private final TestGuestMemory mem = new TestGuestMemory(0x10000, 0x80000);
    private final TestRingDriver d0 = new TestRingDriver(mem, 0, 16, 0x10000, 0x40000);
    private final TestRingDriver d1 = new TestRingDriver(mem, 1, 16, 0x50000, 0x40000);
    private final RecordingInterrupt irq = new RecordingInterrupt();
    private final AtomicInteger processed = new AtomicInteger();
    private QueueWorker worker;

    @AfterEach
    void tearDown() throws Exception {
        if (worker != null) {
            worker.stop(2000);
        }
        mem.close();
    }

    /** Handler: writes 0x5A in the first writable byte and completes with 1 byte written. */
    private QueueWorker.Handler handler() {
        DescriptorChain[] chains = {new DescriptorChain(16), new DescriptorChain(16)};
        return (qi, q) -> {
            DescriptorChain c = chains[qi];
            while (q.pop(c)) {
                c.writeByte(0, (byte) 0x5A);
                q.addUsed(c.head(), 1);
                processed.incrementAndGet();
            }
        };
    }

    private long submit(TestRingDriver d) {
        long b = d.alloc(8);
        d.submit(new Buf(b, 8, true));
        return b;
    }

    @Test
    void servesKickedQueueAndSignalsUsed() throws Exception {
        try (EventFd kick = EventFd.create()) {
            DeviceQueue q = new DeviceQueue(mem, d0.config(kick.fd(), -1), 0);
            worker = new QueueWorker("test-kick", List.of(q), handler(), irq);
            worker.start();
            long b = submit(d0);
            kick.signal();
            assertThat(d0.awaitUsed(1, 5000)).isTrue();
            assertThat(d0.at(b, 1).get(ValueLayout.JAVA_BYTE, 0)).isEqualTo((byte) 0x5A);
            awaitSignals(0, 1);

            worker.stop(2000);
            assertThat(worker.isRunning()).isFalse();
            submit(d0);
            kick.signal();
            Thread.sleep(50);
            assertThat(d0.usedIdx()).isEqualTo(1); // nothing processed after stop
            assertThat(q.nextAvail()).isEqualTo(1);
        }
    }

    /**
     * Adaptive polling: with a maximum window of 10 s, a kicked request that comes after the
     * worker went to sleep (its window over, notifications back on) doubles the window from 4 µs,
     * so after 17 of them the worker polls for about half a second before it sleeps. While it
     * polls the driver is told not to kick (VIRTQ_USED_F_NO_NOTIFY), and a request made available
     * then without a kick is served by the poll phase alone (with polling off it would wait for a
     * kick forever).
     */
    @Test
    void adaptivePollingServesWorkThatCameWithoutAKick() throws Exception {
        String old = System.getProperty(com.vhost.spi.virtqueue.AdaptivePoll.MAX_NS_PROPERTY);
        System.setProperty(com.vhost.spi.virtqueue.AdaptivePoll.MAX_NS_PROPERTY, "10000000000");
        try (EventFd kick = EventFd.create()) {
            DeviceQueue q = new DeviceQueue(mem, d0.config(kick.fd(), -1), 0);
            worker = new QueueWorker("test-adaptive", List.of(q), handler(), irq);
            worker.start();
            int n = 17;
            for (int i = 1; i <= n; i++) {
                awaitNoNotify(false); // asleep in epoll: this request comes after the window
                submit(d0);
                kick.signal();
                assertThat(d0.awaitUsed(i, 5000)).isTrue();
            }
            awaitNoNotify(true);
            submit(d0); // no kick
            assertThat(d0.awaitUsed(n + 1, 5000)).as("served by polling, without a kick").isTrue();
        } finally {
            if (old == null) {
                System.clearProperty(com.vhost.spi.virtqueue.AdaptivePoll.MAX_NS_PROPERTY);
            } else {
                System.setProperty(com.vhost.spi.virtqueue.AdaptivePoll.MAX_NS_PROPERTY, old);
            }
        }
    }

    private void awaitNoNotify(boolean set) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (((d0.usedFlags() & 1) != 0) != set && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertThat((d0.usedFlags() & 1) != 0).as("VIRTQ_USED_F_NO_NOTIFY").isEqualTo(set);
    }

    @Test
    void pollsQueueWithoutKickFd() throws Exception {
        DeviceQueue q = new DeviceQueue(mem, d1.config(-1, -1), 0);
        worker = new QueueWorker("test-poll", List.of(q), handler(), irq);
        worker.start();
        for (int i = 1; i <= 3; i++) {
            submit(d1);
            assertThat(d1.awaitUsed(i, 5000)).isTrue();
            Thread.sleep(20); // let it back off and come back
        }
        awaitSignals(1, 1);
    }

    @Test
    void dropsKicksOnDisabledQueue() throws Exception {
        try (EventFd kick = EventFd.create()) {
            DeviceQueue q = new DeviceQueue(mem, d0.config(kick.fd(), -1), 0);
            q.setEnabled(false);
            worker = new QueueWorker("test-disabled", List.of(q), handler(), irq);
            worker.start();
            submit(d0);
            kick.signal();
            Thread.sleep(50);
            assertThat(d0.usedIdx()).isZero();
            assertThat(kick.drain()).as("kick drained by the worker").isZero();
            q.setEnabled(true);
            kick.signal();
            assertThat(d0.awaitUsed(1, 5000)).isTrue();
        }
    }

    @Test
    void handlerFaultStopsOnlyThatQueueAndRequestsReset() throws Exception {
        try (EventFd k0 = EventFd.create(); EventFd k1 = EventFd.create()) {
            DeviceQueue q0 = new DeviceQueue(mem, d0.config(k0.fd(), -1), 0);
            DeviceQueue q1 = new DeviceQueue(mem, d1.config(k1.fd(), -1), 0);
            worker = new QueueWorker("test-fault", List.of(q0, q1), handler(), irq);
            worker.start();
            d0.makeAvailable(99); // head out of range
            k0.signal();
            assertThat(irq.awaitNeedsReset(5000)).isTrue();
            assertThat(irq.needsReset().get(0)).contains("queue 0").contains("head index 99");
            assertThat(irq.queueErrors()).as("reported with the failed queue's index").containsExactly(0);
            assertThat(worker.isFailed(0)).isTrue();

            submit(d1);
            k1.signal();
            assertThat(d1.awaitUsed(1, 5000)).isTrue();
            assertThat(worker.isFailed(1)).isFalse();
            submit(d0);
            k0.signal();
            Thread.sleep(30);
            assertThat(d0.usedIdx()).isZero();
        }
    }

    /**
     * Issue #10: a polled queue (no kick fd) whose avail idx jumps by more than its size stops
     * alone, reported with its index; the worker goes on serving the kicked queue. The jump used to
     * escape the poll loop and end the worker thread, stopping every queue.
     */
    @Test
    void anAvailJumpOnAPolledQueueStopsOnlyThatQueue() throws Exception {
        try (EventFd k0 = EventFd.create()) {
            DeviceQueue q0 = new DeviceQueue(mem, d0.config(k0.fd(), -1), 0);
            DeviceQueue q1 = new DeviceQueue(mem, d1.config(-1, -1), 0);
            worker = new QueueWorker("test-poll-jump", List.of(q0, q1), handler(), irq);
            worker.start();
            mem.slice(q1.config().availAddr() + 2, 2).set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN),
                    0, (short) 17); // avail idx 17 ahead of next avail 0 in a ring of 16
            assertThat(irq.awaitNeedsReset(5000)).isTrue();
            assertThat(irq.needsReset().get(0)).contains("avail idx 17");
            assertThat(irq.queueErrors()).containsExactly(1);
            assertThat(worker.isFailed(1)).isTrue();
            assertThat(worker.isRunning()).isTrue();
            submit(d0);
            k0.signal();
            assertThat(d0.awaitUsed(1, 5000)).isTrue();
        }
    }

    /**
     * Issue #10: guest memory truncated under a running queue. The handler's first touch of it is
     * SIGBUS, which the JVM raises as an InternalError: it stops that queue with a needs-reset
     * naming the queue, and the thread goes on serving the other queue.
     */
    @Test
    void aFaultInTruncatedGuestMemoryStopsOnlyThatQueueAndRequestsReset() throws Exception {
        try (EventFd k0 = EventFd.create(); EventFd k1 = EventFd.create();
                SharedMemory guest = SharedMemory.create("guest", 0x10000)) {
            DeviceQueue q0 = new DeviceQueue(mem, d0.config(k0.fd(), -1), 0);
            DeviceQueue q1 = new DeviceQueue(mem, d1.config(k1.fd(), -1), 0);
            QueueWorker.Handler normal = handler();
            AtomicInteger touched = new AtomicInteger();
            worker = new QueueWorker("test-sigbus", List.of(q0, q1), (qi, q) -> {
                if (qi == 0) {
                    touched.incrementAndGet();
                    guest.segment().get(ValueLayout.JAVA_LONG, 0x1000); // past the end of the file: SIGBUS
                }
                normal.process(qi, q);
            }, irq);
            worker.start();
            Linux.ftruncate(guest.fd(), 0); // the front-end shrinks guest memory under the ring
            submit(d0);
            k0.signal();
            assertThat(irq.awaitNeedsReset(5000)).isTrue();
            assertThat(irq.needsReset().get(0)).contains("queue 0").contains("fault in guest memory");
            assertThat(worker.isFailed(0)).isTrue();
            assertThat(worker.isRunning()).isTrue();
            int touchedWhenFailed = touched.get();

            submit(d1);
            k1.signal();
            assertThat(d1.awaitUsed(1, 5000)).isTrue();
            submit(d0);
            k0.signal();
            Thread.sleep(30);
            assertThat(touched.get()).as("a stopped queue is not served again").isEqualTo(touchedWhenFailed);
            assertThat(d0.usedIdx()).isZero();
        }
    }

    /** Any other Error from a handler (not an OutOfMemoryError) is contained per queue as well. */
    @Test
    void anErrorFromTheHandlerStopsOnlyThatQueue() throws Exception {
        try (EventFd k0 = EventFd.create(); EventFd k1 = EventFd.create()) {
            DeviceQueue q0 = new DeviceQueue(mem, d0.config(k0.fd(), -1), 0);
            DeviceQueue q1 = new DeviceQueue(mem, d1.config(k1.fd(), -1), 0);
            QueueWorker.Handler normal = handler();
            worker = new QueueWorker("test-error", List.of(q0, q1), (qi, q) -> {
                if (qi == 0) {
                    throw new StackOverflowError("deep");
                }
                normal.process(qi, q);
            }, irq);
            worker.start();
            submit(d0);
            k0.signal();
            assertThat(irq.awaitNeedsReset(5000)).isTrue();
            assertThat(irq.needsReset().get(0)).contains("queue 0").contains("StackOverflowError");
            submit(d1);
            k1.signal();
            assertThat(d1.awaitUsed(1, 5000)).isTrue();
            assertThat(worker.isRunning()).isTrue();
        }
    }

    @Test
    void stopIsBoundedAndWaitsForTheRequestInFlight() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        DeviceQueue q = new DeviceQueue(mem, d0.config(-1, -1), 0);
        DescriptorChain c = q.newChain();
        worker = new QueueWorker("test-slow", List.of(q), (qi, dq) -> {
            while (dq.pop(c)) {
                entered.countDown();
                try {
                    release.await(5, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
                dq.addUsed(c.head(), 0);
            }
        }, irq);
        worker.start();
        submit(d0);
        assertThat(entered.await(5, TimeUnit.SECONDS)).isTrue();
        assertThatThrownBy(() -> worker.stop(50)).isInstanceOf(VhostTimeoutException.class)
                .hasMessageContaining("test-slow");
        release.countDown();
        worker.stop(5000);
        assertThat(d0.usedIdx()).isEqualTo(1); // the request in flight completed before stop returned
        assertThat(worker.isRunning()).isFalse();
    }

    @Test
    void removeQueueStopsOnlyThatQueueAndWaitsForItsRequestInFlight() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        try (EventFd k0 = EventFd.create(); EventFd k1 = EventFd.create()) {
            DeviceQueue q0 = new DeviceQueue(mem, d0.config(k0.fd(), -1), 0);
            DeviceQueue q1 = new DeviceQueue(mem, d1.config(k1.fd(), -1), 0);
            DescriptorChain[] chains = {q0.newChain(), q1.newChain()};
            worker = new QueueWorker("test-remove", List.of(q0, q1), (qi, dq) -> {
                while (dq.pop(chains[qi])) {
                    if (qi == 0) {
                        entered.countDown();
                        try {
                            release.await(5, TimeUnit.SECONDS);
                        } catch (InterruptedException e) {
                            throw new IllegalStateException(e);
                        }
                    }
                    dq.addUsed(chains[qi].head(), 1);
                }
            }, irq);
            worker.start();
            submit(d0);
            k0.signal();
            assertThat(entered.await(5, TimeUnit.SECONDS)).isTrue();
            assertThatThrownBy(() -> worker.removeQueue(0, 50)).isInstanceOf(VhostTimeoutException.class)
                    .hasMessageContaining("test-remove").hasMessageContaining("stop queue 0");
            assertThat(worker.queues()).containsExactly(q0, q1); // a refused stop changed nothing

            Thread releaser = Thread.ofPlatform().start(() -> {
                try {
                    Thread.sleep(30);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                release.countDown();
            });
            DeviceQueue removed = worker.removeQueue(0, 5000);
            releaser.join(5000);
            assertThat(removed).isSameAs(q0);
            assertThat(d0.usedIdx()).as("the request in flight completed before removeQueue returned").isEqualTo(1);
            assertThat(q0.nextAvail()).isEqualTo(1);
            assertThat(worker.queues()).containsExactly(q1);
            assertThat(worker.removeQueue(0, 5000)).as("a queue not served").isNull();

            submit(d0);
            k0.signal();
            submit(d1);
            k1.signal();
            assertThat(d1.awaitUsed(1, 5000)).as("the other queue is still served").isTrue();
            Thread.sleep(30);
            assertThat(d0.usedIdx()).as("nothing processed on the stopped queue").isEqualTo(1);
            assertThat(worker.isRunning()).isTrue();
        }
    }

    @Test
    void addQueueServesEntriesMadeAvailableWhileStoppedAndLaterKicks() throws Exception {
        try (EventFd k0 = EventFd.create(); EventFd k1 = EventFd.create()) {
            DeviceQueue q0 = new DeviceQueue(mem, d0.config(k0.fd(), -1), 0);
            worker = new QueueWorker("test-add", List.of(q0), handler(), irq);
            worker.start();
            submit(d1); // on a ring not served yet: no kick will come for it
            DeviceQueue q1 = new DeviceQueue(mem, d1.config(k1.fd(), -1), 0);
            worker.addQueue(q1, 5000);
            assertThat(d1.awaitUsed(1, 5000)).as("pending entry served on start").isTrue();
            submit(d1);
            k1.signal();
            assertThat(d1.awaitUsed(2, 5000)).isTrue();
            submit(d0);
            k0.signal();
            assertThat(d0.awaitUsed(1, 5000)).isTrue();
            assertThatThrownBy(() -> worker.addQueue(new DeviceQueue(mem, d1.config(k1.fd(), -1), 0), 5000))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("already serves queue 1");

            // remove and add back the same queue object at its current position: no entry lost or repeated
            DeviceQueue removed = worker.removeQueue(1, 5000);
            submit(d1);
            k1.signal();
            Thread.sleep(20);
            assertThat(d1.usedIdx()).isEqualTo(2);
            worker.addQueue(new DeviceQueue(mem, d1.config(k1.fd(), -1).withNextAvail(removed.nextAvail()), 0), 5000);
            assertThat(d1.awaitUsed(3, 5000)).isTrue();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (processed.get() < 4 && System.nanoTime() < deadline) {
                Thread.sleep(1); // the handler counts after addUsed
            }
            Thread.sleep(20);
            assertThat(processed.get()).as("each entry processed once").isEqualTo(4);
        }
    }

    @Test
    void queueChangesOnAStoppedWorkerApplyDirectly() throws Exception {
        DeviceQueue q0 = new DeviceQueue(mem, d0.config(-1, -1), 0);
        worker = new QueueWorker("test-stopped", List.of(), handler(), irq);
        worker.addQueue(q0, 100); // not started yet
        assertThat(worker.queues()).containsExactly(q0);
        worker.start();
        submit(d0);
        assertThat(d0.awaitUsed(1, 5000)).as("a polled queue added before start").isTrue();
        worker.stop(2000);
        assertThat(worker.removeQueue(0, 100)).isSameAs(q0);
        assertThat(worker.queues()).isEmpty();
    }

    @Test
    void aQueueKeptBusyDoesNotStarveTheStopOfAnother() throws Exception {
        java.util.concurrent.atomic.AtomicBoolean feed = new java.util.concurrent.atomic.AtomicBoolean(true);
        try (EventFd k0 = EventFd.create(); EventFd k1 = EventFd.create()) {
            DeviceQueue q0 = new DeviceQueue(mem, d0.config(k0.fd(), -1), 0);
            DeviceQueue q1 = new DeviceQueue(mem, d1.config(k1.fd(), -1), 0);
            DescriptorChain[] chains = {q0.newChain(), q1.newChain()};
            worker = new QueueWorker("test-busy", List.of(q0, q1), (qi, dq) -> {
                int head = -1;
                while (dq.pop(chains[qi])) {
                    head = chains[qi].head();
                    dq.addUsed(head, 1);
                    processed.incrementAndGet();
                }
                if (qi == 1 && head >= 0 && feed.get()) {
                    d1.makeAvailable(head); // the driver keeps queue 1 busy: its serve loop never finds it empty
                }
            }, irq);
            worker.start();
            submit(d1);
            k1.signal();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (processed.get() < 1000 && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            assertThat(processed.get()).as("queue 1 is busy").isGreaterThanOrEqualTo(1000);
            assertThat(worker.removeQueue(0, 2000)).as("stopped while queue 1 stays busy").isSameAs(q0);
            int before = processed.get();
            Thread.sleep(20);
            assertThat(processed.get()).as("queue 1 still served after the change").isGreaterThan(before);
            feed.set(false);
            submit(d0);
            k0.signal();
            Thread.sleep(20);
            assertThat(d0.usedIdx()).as("queue 0 stopped").isZero();
        }
    }

    /** CPU time the thread named {@code name} spends over {@code ms} milliseconds, in ms. */
    private static long cpuMsOver(String name, long ms) throws InterruptedException {
        java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
        long id = Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no thread " + name)).threadId();
        long before = mx.getThreadCpuTime(id);
        Thread.sleep(ms);
        return (mx.getThreadCpuTime(id) - before) / 1_000_000;
    }

    @Test
    void aKickPipeWhoseWriterClosedStopsThatQueueWithoutSpinning() throws Exception {
        int[] pipe = Linux.pipe();
        try (EventFd k1 = EventFd.create(); OwnedFd kickRead = new OwnedFd(pipe[0]); OwnedFd kickWrite = new OwnedFd(pipe[1])) {
            DeviceQueue q0 = new DeviceQueue(mem, d0.config(kickRead.fd(), -1), 0);
            DeviceQueue q1 = new DeviceQueue(mem, d1.config(k1.fd(), -1), 0);
            worker = new QueueWorker("test-kick-eof", List.of(q0, q1), handler(), irq);
            worker.start();
            kickWrite.close(); // end-of-file on the kick fd: epoll reports EPOLLHUP on every wait
            assertThat(irq.awaitNeedsReset(5000)).isTrue();
            assertThat(irq.needsReset().get(0)).contains("queue 0").contains("kick fd").contains("hung up");
            assertThat(worker.isFailed(0)).isTrue();
            assertThat(cpuMsOver("test-kick-eof", 300)).as("worker CPU time over 300 ms").isLessThan(60);

            submit(d1);
            k1.signal();
            assertThat(d1.awaitUsed(1, 5000)).as("the other queue is still served").isTrue();
            assertThat(worker.removeQueue(0, 2000)).isSameAs(q0);
            worker.stop(2000);
            assertThat(worker.isRunning()).isFalse();
        }
    }

    @Test
    void aKickSocketWhosePeerClosedStopsThatQueue() throws Exception {
        UnixSocket[] pair = UnixSocket.pair();
        try (UnixSocket kick = pair[0]) {
            DeviceQueue q0 = new DeviceQueue(mem, d0.config(kick.fd(), -1), 0);
            worker = new QueueWorker("test-kick-sock", List.of(q0), handler(), irq);
            worker.start();
            pair[1].close();
            assertThat(irq.awaitNeedsReset(5000)).isTrue();
            assertThat(irq.needsReset().get(0)).contains("queue 0").contains("kick fd");
            assertThat(cpuMsOver("test-kick-sock", 300)).as("worker CPU time over 300 ms").isLessThan(60);
            worker.stop(2000);
        }
    }

    @Test
    void startTwiceIsRejected() throws Exception {
        DeviceQueue q = new DeviceQueue(mem, d0.config(-1, -1), 0);
        worker = new QueueWorker("test-twice", List.of(q), (qi, dq) -> {
            throw new VirtqueueException(qi, "unused");
        }, irq);
        worker.start();
        assertThatThrownBy(worker::start).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void eventIdxSuppressesUsedSignalsUntilUsedEvent() throws Exception {
        try (EventFd kick = EventFd.create()) {
            long features = com.vhost.api.virtio.VirtioFeatures.bit(com.vhost.api.virtio.VirtioFeatures.F_EVENT_IDX);
            DeviceQueue q = new DeviceQueue(mem, d0.config(kick.fd(), -1), features);
            worker = new QueueWorker("test-event-idx", List.of(q), handler(), irq);
            d0.setUsedEvent(2); // the driver wants a signal once the entry with index 2 is used
            worker.start();
            for (int i = 1; i <= 2; i++) {
                submit(d0);
                kick.signal();
                assertThat(d0.awaitUsed(i, 5000)).isTrue();
            }
            Thread.sleep(20);
            assertThat(irq.usedSignals(0)).isZero();
            assertThat(d0.availEvent()).as("device asks for a kick at the next avail entry").isEqualTo(2);
            submit(d0);
            kick.signal();
            assertThat(d0.awaitUsed(3, 5000)).isTrue();
            awaitSignals(0, 1);
            assertThat(irq.usedSignals(0)).isEqualTo(1);
        }
    }

    private void awaitSignals(int queue, int atLeast) throws InterruptedException {
        assertThat(irq.awaitUsedSignals(queue, atLeast, 5000)).isGreaterThanOrEqualTo(atLeast);
    }
}
