package com.vhost.devices.blk.driver;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VhostFeatureException;
import com.vhost.api.VirtioDeviceException;
import com.vhost.api.blk.BlockDevice;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.api.registry.VirtioDriverFactory;
import com.vhost.api.virtio.GuestMemory;
import com.vhost.api.virtio.Interrupt;
import com.vhost.api.virtio.VirtioDevice;
import com.vhost.api.virtio.VirtioFeatures;
import com.vhost.devices.blk.model.FileBlockModel;
import com.vhost.devices.blk.model.ServeBlk;
import com.vhost.spi.backend.ForwardingVirtioDevice;
import com.vhost.spi.backend.RebindableDevice;
import com.vhost.spi.testing.VirtioDriverContract;
import com.vhost.spi.workload.VerifiedWorkload;
import com.vhost.user.testing.ServerProcess;
import com.vhost.user.testing.UserBackend;
import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.BeforeEach;

/**
 * The driver contract ({@link VirtioDriverContract}) for virtio-blk drivers made by
 * {@link BlkDriverFactory}: back-ends are this project's vhost-user server with the file-backed
 * model ({@link FileBlockModel}, 2 queues of 64), every one on the same 8 MiB image; the one that
 * dies is {@link ServeBlk} in a JVM of its own, killed with SIGKILL. The workload is
 * {@link VerifiedWorkload} (checksummed writes, each read back). Refused: a back-end that hides
 * VIRTIO_BLK_F_FLUSH (an older back-end) and one of another capacity.
 */
class BlkDriverContractTest extends VirtioDriverContract {
    private static final int MIB = 1 << 20;
    private static final int QUEUES = 2;
    private static final int QUEUE_SIZE = 64;
    /** Where the held write goes (queue 1, byte offset). */
    private static final long HELD_OFFSET = 8192;

    private Path image;

    /** @return the I/O engine of the own back-ends ({@code BlkDriverContractUringTest}: io_uring) */
    FileBlockModel.Aio aio() {
        return FileBlockModel.Aio.THREADS;
    }

    @BeforeEach
    void image() throws Exception {
        image = dir.resolve("disk.raw");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(8 * MIB);
        }
    }

    @Override
    protected VirtioDriverFactory factory() {
        return new BlkDriverFactory();
    }

    @Override
    protected Class<?> apiType() {
        return BlockDevice.class;
    }

    @Override
    protected Map<String, Object> config() {
        return Map.of(DeviceConfigKeys.QUEUES, QUEUES, DeviceConfigKeys.QUEUE_SIZE, QUEUE_SIZE,
                DeviceConfigKeys.BUFFER_POOL_BYTES, 4 * MIB);
    }

    @Override
    protected Backend startBackend(String name) throws Exception {
        return UserBackend.serve(dir.resolve(name + ".sock"), FileBlockModel.open(image, false, QUEUES, QUEUE_SIZE, aio(), false));
    }

    @Override
    protected Backend startMortalBackend(String name) throws Exception {
        Path sock = dir.resolve(name + ".sock");
        return UserBackend.inProcess(sock, ServerProcess.start(ServeBlk.class, dir.resolve(name + ".log"), "serve", "blk",
                "--image", image.toString(), "--socket", sock.toString(), "--queues", "" + QUEUES, "--queue-size", "" + QUEUE_SIZE, "--aio", aio().name()));
    }

    @Override
    protected List<Incompatible> startIncompatibleBackends() throws Exception {
        FileBlockModel older = closeAfter(FileBlockModel.open(image, false, QUEUES, QUEUE_SIZE, aio(), false));
        return List.of(
                new Incompatible(UserBackend.serve(dir.resolve("noflush.sock"), new FeatureMask(older, VirtioFeatures.bit(VirtioBlk.F_FLUSH))),
                        VhostFeatureException.class, List.of("does not offer feature bits 0x200"), config(), "acked features"),
                new Incompatible(UserBackend.serve(dir.resolve("small.sock"), FileBlockModel.inMemory(MIB, QUEUES, QUEUE_SIZE, aio())), // same aio: IN_ORDER offered alike
                        VirtioDeviceException.class, List.of("geometry differs: capacity 1048576 bytes"), config(), "geometry"));
    }

    /** {@link VerifiedWorkload} on the application handle: 4 workers, 4 blocks of 4 KiB each at a time, in 4 MiB. */
    private static final class BlkWorkload implements Workload {
        final VerifiedWorkload load;
        VerifiedWorkload.Result result;

        BlkWorkload(VirtioDriver d) {
            load = new VerifiedWorkload(d.api(BlockDevice.class), 4 * MIB, 4096, 4, 4, 7,
                    () -> d.counters().get("requests"));
            load.start();
        }

        @Override
        public long progress() {
            return load.writes() + load.reads();
        }

        @Override
        public Tally stop() throws Exception {
            VerifiedWorkload.Result r = load.stop();
            result = r;
            return new Tally(r.writes() + r.reads(), r.lost(), r.duplicated(), r.corrupted(), 0, 0, r.firstError());
        }
    }

    @Override
    protected Workload startWorkload(VirtioDriver driver) {
        return new BlkWorkload(driver);
    }

    @Override
    protected long progressPerStep() {
        return 16;
    }

    @Override
    protected HeldRequest submitWhileDetached(VirtioDriver driver) {
        BlockDevice dev = driver.api(BlockDevice.class);
        MemorySegment buf = dev.allocateBuffer(4096);
        buf.fill((byte) 0x5A);
        CompletableFuture<Void> write = dev.write(1, HELD_OFFSET, buf);
        return new HeldRequest() {
            @Override
            public boolean completedWithin(Duration d) throws Exception {
                try {
                    write.get(d.toNanos(), TimeUnit.NANOSECONDS);
                    return true;
                } catch (ExecutionException e) {
                    return true;
                } catch (TimeoutException e) {
                    return false;
                }
            }

            @Override
            public void assertCompleted(Duration timeout) throws Exception {
                write.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
                MemorySegment back = dev.allocateBuffer(4096);
                dev.read(0, HELD_OFFSET, back).get(timeout.toNanos(), TimeUnit.NANOSECONDS);
                assertThat(back.mismatch(buf)).as("the held write read back").isEqualTo(-1);
                byte[] file = Files.readAllBytes(image);
                assertThat(file[(int) HELD_OFFSET]).as("the held write in the image").isEqualTo((byte) 0x5A);
                assertThat(file[(int) HELD_OFFSET + 4095]).isEqualTo((byte) 0x5A);
                dev.freeBuffer(back);
                dev.freeBuffer(buf);
            }
        };
    }

    @Override
    protected Throwable awaitDisconnectedFailure(VirtioDriver driver, Duration atMost) throws Exception {
        BlockDevice dev = driver.api(BlockDevice.class);
        MemorySegment buf = dev.allocateBuffer(4096);
        try {
            dev.write(0, 0, buf).get(atMost.toNanos(), TimeUnit.NANOSECONDS);
            throw new AssertionError("a write on a device without a back-end completed");
        } catch (ExecutionException e) {
            return e.getCause();
        } finally {
            dev.freeBuffer(buf);
        }
    }

    @Override
    protected void checkAfterRebindsUnderLoad(VirtioDriver driver, Workload workload, Tally tally, int swaps) {
        VerifiedWorkload.Result r = ((BlkWorkload) workload).result;
        assertThat(r.writes()).isGreaterThan(swaps * 8L);
        assertThat(r.reads()).isGreaterThan(0);
        // both back-ends offer DEVICE_STATE: the model's state travelled with every rebind
        assertThat(driver.counters()).containsEntry("states.carried", (long) swaps);
        assertThat(driver.counters().get("requests")).isGreaterThanOrEqualTo(tally.completed());
    }

    @Override
    protected void checkRestored(VirtioDriver driver, String result) {
        assertThat(result).contains("q0").contains("q1");
    }

    /**
     * A model with feature bits {@code hidden} taken out of its offer (a back-end of an older
     * version). It forwards {@link RebindableDevice} too, so a model that a device state SAVE left
     * asleep wakes over the new memory with its state (without it the server resets the model and
     * activates it over the new memory: BackendHandlerTest).
     */
    private static final class FeatureMask extends ForwardingVirtioDevice implements RebindableDevice {
        private final long hidden;

        FeatureMask(VirtioDevice d, long hidden) {
            super(d);
            this.hidden = hidden;
        }

        @Override
        public long features() {
            return delegate().features() & ~hidden;
        }

        @Override
        public void ackFeatures(long features) {
            delegate().ackFeatures(features & ~hidden);
        }

        @Override
        public void rebind(GuestMemory memory, Interrupt interrupt) throws VirtioDeviceException {
            if (!(delegate() instanceof RebindableDevice r)) {
                throw new VirtioDeviceException(delegate().deviceType() + " model cannot be rebound");
            }
            r.rebind(memory, interrupt);
        }
    }
}
