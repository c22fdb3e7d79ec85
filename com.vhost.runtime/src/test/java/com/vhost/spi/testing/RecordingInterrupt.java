package com.vhost.spi.testing;

import com.vhost.api.virtio.Interrupt;
import com.vhost.spi.backend.QueueErrorInterrupt;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * Test-only {@link Interrupt} that counts used-queue signals and records needs-reset reasons; as a
 * {@link QueueErrorInterrupt} it also records the index of each queue reported failed.
 */
public final class RecordingInterrupt implements QueueErrorInterrupt {
    private final AtomicIntegerArray used = new AtomicIntegerArray(256);
    private final AtomicInteger configChanges = new AtomicInteger();
    private final List<String> resets = new CopyOnWriteArrayList<>();
    private final List<Integer> queueErrors = new CopyOnWriteArrayList<>();

    @Override
    public void signalUsedQueue(int queueIndex) {
        used.incrementAndGet(queueIndex);
    }

    @Override
    public void signalConfigChanged() {
        configChanges.incrementAndGet();
    }

    @Override
    public void signalNeedsReset(String reason) {
        resets.add(reason);
    }

    @Override
    public void signalQueueError(int queueIndex, String reason) {
        queueErrors.add(queueIndex);
        resets.add(reason);
    }

    /** @return the queue indices reported through {@link #signalQueueError}, in order */
    public List<Integer> queueErrors() {
        return List.copyOf(queueErrors);
    }

    public int usedSignals(int queueIndex) {
        return used.get(queueIndex);
    }

    /**
     * Waits (bounded) until queue {@code queueIndex} was signalled at least {@code atLeast} times:
     * a device publishes its used elements before it signals, so a test that saw them must wait
     * for the signal too.
     *
     * @return the signals counted (fewer than {@code atLeast} when the time ran out)
     */
    public int awaitUsedSignals(int queueIndex, int atLeast, long timeoutMs) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (used.get(queueIndex) < atLeast && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        return used.get(queueIndex);
    }

    public int configChanges() {
        return configChanges.get();
    }

    public List<String> needsReset() {
        return List.copyOf(resets);
    }

    /** Waits (bounded) for a needs-reset report; returns whether one came. */
    public boolean awaitNeedsReset(long timeoutMs) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (resets.isEmpty()) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.sleep(1);
        }
        return true;
    }
}
