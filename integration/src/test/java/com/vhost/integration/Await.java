package com.vhost.integration;

import java.util.function.Supplier;

/** Bounded polling for state that other threads (SCR, the registry's workers) change. */
final class Await {
    private Await() {}

    /**
     * @return the first non-null value {@code probe} yields within {@code timeoutMs}, else the
     *     last value (null)
     */
    static <T> T until(long timeoutMs, Supplier<T> probe) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        T v = probe.get();
        while (v == null && System.nanoTime() < deadline) {
            Thread.sleep(20);
            v = probe.get();
        }
        return v;
    }
}
