package com.vhost.spi.driver;

import com.vhost.api.VirtioDeviceException;
import com.vhost.api.virtio.VirtqueueConfig;
import com.vhost.spi.virtqueue.VirtqueueStates;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The framing the device and driver snapshots share (big-endian, {@link DataOutputStream}): writing
 * into and reading from a byte array, a typed error for every way a snapshot can be wrong, and
 * the head of a driver snapshot:
 * <pre>
 * int magic; int version;
 * long ackedFeatures;
 * int configLength; byte[configLength] config     (the device's config space, at most {@value #MAX_CONFIG_BYTES})
 * int stateLength; byte[stateLength] state        (a further blob: the back-end's or the front-end's state)
 * queues as {@link VirtqueueStates} writes them
 * </pre>
 * then per queue, in the same order, the driver's ring record ({@link #writeDriverSnapshot},
 * {@link #readDriverSnapshot}).
 */
public final class SnapshotFrames {
    /** Largest config space a driver snapshot carries, bytes. */
    public static final int MAX_CONFIG_BYTES = 4096;

    private SnapshotFrames() {}

    /** Writes part of a snapshot. */
    @FunctionalInterface
    interface Writer {
        void write(DataOutputStream out) throws IOException;
    }

    /** Reads (part of) a snapshot. */
    @FunctionalInterface
    interface Reader<T> {
        T read(DataInputStream in) throws IOException;
    }

    /** The head of a driver snapshot: everything before the ring records. */
    public record DriverHead(long ackedFeatures, byte[] config, byte[] state, List<VirtqueueConfig> queues) {}

    /** Writes one queue's ring record of a driver snapshot. */
    @FunctionalInterface
    public interface RingWriter<R> {
        void write(DataOutputStream out, R ring) throws IOException;
    }

    /** Reads one queue's ring record of a driver snapshot. */
    @FunctionalInterface
    public interface RingReader<R> {
        /**
         * @param q the queue whose record this is
         * @throws VirtioDeviceException naming what is out of range
         * @throws IOException when the input ends early
         */
        R read(DataInputStream in, VirtqueueConfig q) throws IOException;
    }

    /**
     * Reads one queue's ring record of a driver snapshot whose layout depends on its version.
     *
     * @since 2.1
     */
    @FunctionalInterface
    public interface VersionedRingReader<R> {
        /**
         * @param q the queue whose record this is
         * @param version the snapshot's version, one of those the caller accepts
         * @throws VirtioDeviceException naming what is out of range
         * @throws IOException when the input ends early
         */
        R read(DataInputStream in, VirtqueueConfig q, int version) throws IOException;
    }

    /**
     * A driver snapshot as {@link #readDriverSnapshot} reads it.
     *
     * @param head features, config, state blob, queues
     * @param rings per queue of {@code head.queues()}, its ring record
     */
    public record DriverSnapshot<R>(DriverHead head, List<R> rings) {}

    /**
     * @param rings per queue, in the order of {@code queues}, the record {@code ring} writes
     * @return a whole driver snapshot (the layout above)
     */
    public static <R> byte[] writeDriverSnapshot(int magic, int version, long ackedFeatures, byte[] config, byte[] state,
            List<VirtqueueConfig> queues, List<R> rings, RingWriter<R> ring) {
        return write(out -> {
            writeDriverHead(out, magic, version, ackedFeatures, config, state, queues);
            for (R r : rings) {
                ring.write(out, r);
            }
        });
    }

    /**
     * Reads a whole driver snapshot (the layout above).
     *
     * @param kind what the snapshot should be, for messages ("virtio-blk driver snapshot")
     * @param stateName the state blob, for messages ("back-end state")
     * @param stateMax its largest length, bytes
     * @param maxQueues the device's number of queues
     * @param ring reads each queue's ring record
     * @throws VirtioDeviceException naming what is wrong: magic/version, a length or count out of
     *     range, a bad queue, trailing bytes, or truncation at {@code snapshot.length} bytes
     */
    public static <R> DriverSnapshot<R> readDriverSnapshot(byte[] snapshot, String kind, int magic, int version,
            String stateName, int stateMax, int maxQueues, RingReader<R> ring) throws VirtioDeviceException {
        return readDriverSnapshot(snapshot, kind, magic, version, version, stateName, stateMax, maxQueues,
                (in, q, v) -> ring.read(in, q));
    }

    /**
     * Reads a whole driver snapshot (the layout above) of any version from {@code minVersion} to
     * {@code version}: the head is the same in all of them, {@code ring} reads each queue's record
     * as its version lays it out (a driver that changed its ring record keeps reading the older ones).
     *
     * @param minVersion the oldest version read, at most {@code version}
     * @param version the version written now
     * @throws VirtioDeviceException naming what is wrong: magic or a version outside
     *     {@code minVersion..version}, a length or count out of range, a bad queue, trailing bytes, or
     *     truncation at {@code snapshot.length} bytes
     * @since 2.1
     */
    public static <R> DriverSnapshot<R> readDriverSnapshot(byte[] snapshot, String kind, int magic, int minVersion, int version,
            String stateName, int stateMax, int maxQueues, VersionedRingReader<R> ring) throws VirtioDeviceException {
        return read(snapshot, in -> {
            int v = readMagicAndVersion(in, kind, magic, minVersion, version);
            DriverHead head = readDriverHead(in, snapshot.length, stateName, stateMax, maxQueues);
            List<R> rings = new ArrayList<>(head.queues().size());
            for (VirtqueueConfig q : head.queues()) {
                rings.add(ring.read(in, q, v));
            }
            expectEnd(in, head.queues().size());
            return new DriverSnapshot<>(head, List.copyOf(rings));
        });
    }

    /**
     * @return the bytes {@code writer} writes
     * @throws IllegalStateException if writing to memory fails (it does not)
     */
    private static byte[] write(Writer writer) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            writer.write(out);
        } catch (IOException e) {
            throw new IllegalStateException("writing to memory failed", e);
        }
        return bytes.toByteArray();
    }

    /**
     * Runs {@code reader} over {@code snapshot}.
     *
     * @return what the reader returns
     * @throws VirtioDeviceException the reader's own, or "restore: truncated snapshot of N bytes"
     *     when the input ends early
     */
    static <T> T read(byte[] snapshot, Reader<T> reader) throws VirtioDeviceException {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(snapshot))) {
            return reader.read(in);
        } catch (IOException e) {
            if (e instanceof VirtioDeviceException v) {
                throw v;
            }
            throw new VirtioDeviceException("restore: truncated snapshot of " + snapshot.length + " bytes", e);
        }
    }

    /**
     * @param queues the queues read, for the message
     * @throws VirtioDeviceException "restore: trailing bytes after N queues" unless {@code in} is at its end
     */
    static void expectEnd(DataInputStream in, int queues) throws IOException {
        if (in.read() != -1) {
            throw new VirtioDeviceException("restore: trailing bytes after " + queues + " queues");
        }
    }

    /**
     * Writes a driver snapshot's head (the layout above).
     *
     * @param state the further blob, possibly empty
     */
    private static void writeDriverHead(DataOutputStream out, int magic, int version, long ackedFeatures, byte[] config,
            byte[] state, List<VirtqueueConfig> queues) throws IOException {
        out.writeInt(magic);
        out.writeInt(version);
        out.writeLong(ackedFeatures);
        out.writeInt(config.length);
        out.write(config);
        out.writeInt(state.length);
        out.write(state);
        VirtqueueStates.write(out, queues);
    }

    /**
     * Reads a driver snapshot's magic and version.
     *
     * @return the version, {@code minVersion..version}
     * @throws VirtioDeviceException naming the magic and version found and those expected
     */
    private static int readMagicAndVersion(DataInputStream in, String kind, int magic, int minVersion, int version)
            throws IOException {
        int m = in.readInt();
        int v = in.readInt();
        if (m != magic || v < minVersion || v > version) {
            String expected = minVersion == version ? "version " + version : "versions " + minVersion + ".." + version;
            throw new VirtioDeviceException(String.format(
                    "restore: not a %s (magic 0x%08x, version %d; expected 0x%08x %s)", kind, m, v, magic, expected));
        }
        return v;
    }

    /**
     * Reads the rest of a driver snapshot's head, after magic and version (the layout above).
     *
     * @param total the snapshot's length, bytes, for messages
     * @param stateName the further blob, for messages ("back-end state")
     * @param stateMax its largest length, bytes
     * @param maxQueues the device's number of queues
     * @throws VirtioDeviceException naming what is wrong: a length out of range, truncation inside
     *     a blob, a bad queue
     * @throws IOException when the input ends early elsewhere
     */
    private static DriverHead readDriverHead(DataInputStream in, int total, String stateName, int stateMax, int maxQueues)
            throws IOException {
        long acked = in.readLong();
        byte[] cfg = readBytes(in, "config", MAX_CONFIG_BYTES, total);
        byte[] state = readBytes(in, stateName, stateMax, total);
        List<VirtqueueConfig> qs = VirtqueueStates.read(in, "restore", maxQueues, List.of());
        return new DriverHead(acked, cfg, state, qs);
    }

    /**
     * Reads {@code int n; byte[n]}.
     *
     * @param what the field, for messages
     * @param max the largest {@code n} accepted
     * @param total the snapshot's length, bytes, for messages
     * @throws VirtioDeviceException when {@code n} is outside 0..max or the input ends inside the bytes
     */
    private static byte[] readBytes(DataInputStream in, String what, int max, int total) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > max) {
            throw new VirtioDeviceException("restore: " + what + " length " + n + " out of range 0.." + max);
        }
        byte[] b = in.readNBytes(n);
        if (b.length != n) {
            throw new VirtioDeviceException("restore: truncated snapshot of " + total + " bytes (" + what + ")");
        }
        return b;
    }

    /**
     * Checks a queue's count of entries in flight.
     *
     * @param what the entries, for messages ("requests")
     * @return {@code n}
     * @throws VirtioDeviceException when {@code n} is negative or more than the queue's size
     */
    public static int checkInFlight(VirtqueueConfig q, int n, String what) throws VirtioDeviceException {
        if (n < 0 || n > q.size()) {
            throw new VirtioDeviceException("restore: queue " + q.index() + " records " + n + " " + what
                    + " in flight, more than its size " + q.size());
        }
        return n;
    }

    /**
     * Checks a driver snapshot was taken with the feature bits this device acked (a restore
     * cannot change them, VIRTIO 1.2 3.1.1).
     *
     * @throws com.vhost.api.VhostFeatureException naming both sets and the bits that differ
     */
    public static void checkAcked(long snapshotAcked, long acked) throws com.vhost.api.VhostFeatureException {
        if (snapshotAcked != acked) {
            throw new com.vhost.api.VhostFeatureException(String.format(
                    "restore: snapshot acked features 0x%x, this device acked 0x%x (they differ in 0x%x)",
                    snapshotAcked, acked, snapshotAcked ^ acked));
        }
    }
}
