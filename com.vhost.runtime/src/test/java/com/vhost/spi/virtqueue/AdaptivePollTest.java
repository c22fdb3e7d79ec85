package com.vhost.spi.virtqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** The poll window follows QEMU's adjust_polling_time: grow by 2 from 4 µs, keep, reset to 0. */
class AdaptivePollTest {
    @Test
    void startsAtZeroAndGrowsWhileWorkComesWithinTheMaximum() {
        AdaptivePoll p = new AdaptivePoll(32_768);
        assertThat(p.pollNs()).isZero();
        p.record(10_000); // came after the (empty) window, within the maximum
        assertThat(p.pollNs()).isEqualTo(AdaptivePoll.INITIAL_NS);
        p.record(10_000);
        assertThat(p.pollNs()).isEqualTo(8_000);
        p.record(10_000);
        assertThat(p.pollNs()).isEqualTo(16_000);
        p.record(20_000);
        assertThat(p.pollNs()).isEqualTo(32_000);
        p.record(32_500);
        assertThat(p.pollNs()).as("capped at the maximum").isEqualTo(32_768);
    }

    @Test
    void keepsTheWindowWhilePollingCatchesTheWork() {
        AdaptivePoll p = new AdaptivePoll(32_768);
        p.record(5_000);
        p.record(5_000);
        assertThat(p.pollNs()).isEqualTo(8_000);
        for (int i = 0; i < 100; i++) {
            p.record(3_000);
        }
        assertThat(p.pollNs()).isEqualTo(8_000);
    }

    @Test
    void fallsToZeroWhenWorkTakesLongerThanTheMaximum() {
        AdaptivePoll p = new AdaptivePoll(32_768);
        p.record(5_000);
        p.record(5_000);
        assertThat(p.pollNs()).isPositive();
        p.record(1_000_000); // an idle queue: 1 ms
        assertThat(p.pollNs()).isZero();
    }

    @Test
    void aZeroMaximumNeverPolls() {
        AdaptivePoll p = new AdaptivePoll(0);
        for (long ns : new long[] {1, 100, 10_000, 10_000_000}) {
            p.record(ns);
            assertThat(p.pollNs()).isZero();
        }
    }

    @Test
    void theMaximumComesFromTheSystemPropertyAndBadValuesAreNamed() {
        String old = System.getProperty(AdaptivePoll.MAX_NS_PROPERTY);
        try {
            System.clearProperty(AdaptivePoll.MAX_NS_PROPERTY);
            assertThat(AdaptivePoll.fromSystemProperty().maxNs()).isEqualTo(AdaptivePoll.DEFAULT_MAX_NS);
            System.setProperty(AdaptivePoll.MAX_NS_PROPERTY, "50000");
            assertThat(AdaptivePoll.fromSystemProperty().maxNs()).isEqualTo(50_000);
            System.setProperty(AdaptivePoll.MAX_NS_PROPERTY, "-1");
            assertThatThrownBy(AdaptivePoll::fromSystemProperty).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("vhost.poll.max.ns=-1");
            System.setProperty(AdaptivePoll.MAX_NS_PROPERTY, "fast");
            assertThatThrownBy(AdaptivePoll::fromSystemProperty).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("vhost.poll.max.ns=fast");
            assertThatThrownBy(() -> new AdaptivePoll(-5)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("-5 ns");
        } finally {
            if (old == null) {
                System.clearProperty(AdaptivePoll.MAX_NS_PROPERTY);
            } else {
                System.setProperty(AdaptivePoll.MAX_NS_PROPERTY, old);
            }
        }
    }

    @Test
    void theCompletionWindowHasItsOwnPropertyAndDefault() {
        String old = System.getProperty(AdaptivePoll.ASYNC_MAX_NS_PROPERTY);
        try {
            System.clearProperty(AdaptivePoll.ASYNC_MAX_NS_PROPERTY);
            assertThat(AdaptivePoll.forCompletions().maxNs()).isEqualTo(AdaptivePoll.DEFAULT_ASYNC_MAX_NS);
            System.setProperty(AdaptivePoll.ASYNC_MAX_NS_PROPERTY, "0");
            AdaptivePoll off = AdaptivePoll.forCompletions();
            off.record(10_000);
            assertThat(off.pollNs()).isZero();
            System.setProperty(AdaptivePoll.ASYNC_MAX_NS_PROPERTY, "x");
            assertThatThrownBy(AdaptivePoll::forCompletions).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("vhost.poll.async.max.ns=x");
            // a disk read's 70 µs is reached by doubling from 4 µs within the default maximum
            AdaptivePoll p = new AdaptivePoll(AdaptivePoll.DEFAULT_ASYNC_MAX_NS);
            for (int i = 0; i < 8; i++) {
                p.record(70_000);
            }
            assertThat(p.pollNs()).isGreaterThanOrEqualTo(70_000);
        } finally {
            if (old == null) {
                System.clearProperty(AdaptivePoll.ASYNC_MAX_NS_PROPERTY);
            } else {
                System.setProperty(AdaptivePoll.ASYNC_MAX_NS_PROPERTY, old);
            }
        }
    }
}
