package com.vhost.cli;

/** Argument checks shared by the commands; each names the option and the value. */
final class Checks {
    private Checks() {}

    static void queues(int queues, int queueSize) {
        if (queues < 1 || queues > 64) {
            throw new UsageException("--queues " + queues + " is outside 1..64");
        }
        if (queueSize < 1 || queueSize > 32768 || Integer.bitCount(queueSize) != 1) {
            throw new UsageException("--queue-size " + queueSize + " is not a power of two in 1..32768");
        }
    }
}
