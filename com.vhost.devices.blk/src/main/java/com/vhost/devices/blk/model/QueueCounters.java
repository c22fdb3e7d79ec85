package com.vhost.devices.blk.model;

/**
 * Per-queue statistics of a {@link FileBlockModel}. Plain fields written only by the queue's worker
 * thread; other threads read them without synchronization, so a reader may see a slightly stale
 * value (64-bit reads do not tear on the 64-bit JVMs this platform runs on).
 */
public final class QueueCounters {
    long requests;
    long bytesRead;
    long bytesWritten;

    /** @return requests completed (any status) */
    public long requests() {
        return requests;
    }

    /** @return bytes read from the image into guest buffers (IN requests) */
    public long bytesRead() {
        return bytesRead;
    }

    /** @return bytes written to the image from guest buffers or as zeroes (OUT, WRITE_ZEROES) */
    public long bytesWritten() {
        return bytesWritten;
    }

    @Override
    public String toString() {
        return "requests " + requests + ", read " + bytesRead + " B, written " + bytesWritten + " B";
    }
}
