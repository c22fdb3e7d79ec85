package com.vhost.cli;

import com.vhost.api.backend.SocketOptions;
import com.vhost.api.blk.BlockDevice;
import com.vhost.api.blk.BlockDeviceInfo;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.DeviceRegistry;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Dictionary;
import java.util.Hashtable;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.osgi.service.cm.Configuration;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code vhost run}: the whole platform in one command. Serves a disk image with the embedded
 * vhost-user back-end, creates a device configuration so that the registry binds a virtio-blk
 * driver to it through the {@code user} VhostOps, verifies a short write/read workload, prints what
 * was negotiated, then keeps a Gogo shell open unless {@code --no-shell}.
 */
@Command(name = "run", mixinStandardHelpOptions = true,
        description = "Serves a disk image over vhost-user, binds a virtio-blk device to it through the registry, verifies "
            + "a short write/read workload and opens a Gogo shell.",
        footerHeading = "%nExamples:%n",
        footer = {"  vhost run", "  vhost run --image disk.img --size 1G --queues 2 --no-shell"})
final class RunCommand implements Callable<Integer> {
    static final long DEFAULT_SIZE = 64L << 20;
    static final String DEVICE_NAME = "run";
    static final long BIND_TIMEOUT_MS = 15_000;
    static final long UNBIND_TIMEOUT_MS = 10_000;
    static final long VERIFY_BYTES = 16L << 20;
    static final int VERIFY_CHUNK = 64 * 1024;
    static final int VERIFY_DEPTH = 8;

    private final CliServices services;

    @Option(names = "--image", paramLabel = "FILE",
            description = "disk image; created sparse when missing (default: <tmp>/vhost-run-<user>/disk.img)")
    Path image;

    @Option(names = "--size", paramLabel = "BYTES", converter = SizeConverter.class,
            description = "size of a newly created image, a multiple of 512 (default 64M)")
    Long size;

    @Option(names = "--socket", paramLabel = "PATH",
            description = "vhost-user socket of the embedded back-end (default: <tmp>/vhost-run-<user>/blk-<pid>.sock)")
    Path socket;

    @Option(names = "--queues", paramLabel = "N", defaultValue = "1", description = "request queues (default ${DEFAULT-VALUE})")
    int queues;

    @Option(names = "--no-shell", description = "exit after the workload instead of opening the Gogo shell")
    boolean noShell;

    RunCommand(CliServices services) {
        this.services = services;
    }

    @Override
    public Integer call() throws Exception {
        Checks.queues(queues, 256);
        services.watchFolders(null, null);
        PrintWriter out = services.out();
        Path work = Path.of(System.getProperty("java.io.tmpdir"), "vhost-run-" + System.getProperty("user.name", "user"));
        Files.createDirectories(work);
        Path img = image != null ? image : work.resolve("disk.img");
        Path sock = socket != null ? socket : work.resolve("blk-" + ProcessHandle.current().pid() + ".sock");
        long capacity = ensureImage(img, size, out);

        try (BlkTools.Served served = services.blkTools().serveImage(sock, SocketOptions.PRIVATE, img, false, queues, 256)) {
            out.println("back-end  " + served.describe());
            Configuration cfg = services.configurationAdmin()
                    .getFactoryConfiguration(DeviceRegistry.DEVICE_FACTORY_PID, DEVICE_NAME, "?");
            Dictionary<String, Object> props = new Hashtable<>();
            props.put(DeviceConfigKeys.DEVICE_TYPE, "blk");
            props.put(DeviceConfigKeys.BACKEND_TYPE, "user");
            props.put(DeviceConfigKeys.TARGET, sock.toString());
            props.put(DeviceConfigKeys.QUEUES, queues);
            props.put(DeviceConfigKeys.QUEUE_SIZE, 256);
            cfg.update(props);
            try {
                DeviceInfo d = awaitSettled(services.registry(), DEVICE_NAME, BIND_TIMEOUT_MS);
                if (d == null || d.status() != DeviceInfo.Status.BOUND) {
                    services.err().println("vhost run: device " + DEVICE_NAME + " did not bind: "
                            + (d == null ? "no device component appeared within " + BIND_TIMEOUT_MS + " ms"
                                    : d.status() + " " + d.detail()));
                    return VhostCli.EXIT_FAILURE;
                }
                out.println("device    " + d.id() + " BOUND to backend " + d.backendName() + ": " + d.detail());
                BlockDevice dev = services.registry().deviceApi(DEVICE_NAME, BlockDevice.class)
                        .orElseThrow(() -> new IllegalStateException("device " + DEVICE_NAME + " is bound but offers no BlockDevice"));
                BlockDeviceInfo i = dev.info();
                out.printf(Locale.ROOT, "capacity  %d bytes (%s), block size %d%n", i.capacityBytes(), Sizes.human(i.capacityBytes()),
                        i.blockSize());
                out.printf(Locale.ROOT, "queues    %d x %d descriptors%n", i.numQueues(), i.queueSize());
                out.printf(Locale.ROOT, "features  0x%x %s%n", i.features(), FeatureNames.blk(i.features()));
                out.flush();
                VerifyWorkload.Result r = VerifyWorkload.run(dev, Math.min(VERIFY_BYTES, capacity), VERIFY_CHUNK, VERIFY_DEPTH,
                        System.nanoTime(), new Progress(services.err(), services.terminal()));
                out.printf(Locale.ROOT, "verified  %s written and read back: write %.1f MiB/s, read %.1f MiB/s%n",
                        Sizes.human(r.bytes()), r.writeMiBs(), r.readMiBs());
                out.flush();
                if (!RunNet.run(services, work, out, BIND_TIMEOUT_MS, UNBIND_TIMEOUT_MS)) {
                    return VhostCli.EXIT_FAILURE;
                }
                if (!noShell) {
                    out.println("Gogo shell: vhost:devices, vhost:backends, net:list, lb, help; 'exit [CODE]' or Ctrl-D leaves.");
                    out.flush();
                    return services.interactiveShell();
                }
                return 0;
            } finally {
                cfg.delete();
                awaitGone(services.registry(), DEVICE_NAME, UNBIND_TIMEOUT_MS);
            }
        }
    }

    /** Creates a sparse image of {@code size} bytes when missing; returns the image's size. */
    static long ensureImage(Path img, Long size, PrintWriter out) throws IOException {
        if (Files.exists(img)) {
            long existing = Files.size(img);
            if (size != null && size != existing) {
                out.println("note      " + img + " exists with " + existing + " bytes; --size " + size + " ignored");
            }
            out.println("image     " + img + " (" + Sizes.human(existing) + ")");
            return existing;
        }
        long want = size == null ? DEFAULT_SIZE : size;
        if (want <= 0 || want % 512 != 0) {
            throw new UsageException("--size " + want + " is not a positive multiple of 512");
        }
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(want);
        }
        out.println("image     " + img + " (" + Sizes.human(want) + ", created)");
        return want;
    }

    /** Waits until the device is BOUND or FAILED; returns its last state (null if it never appeared). */
    static DeviceInfo awaitSettled(DeviceRegistry registry, String id, long timeoutMs) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        DeviceInfo last = null;
        while (System.nanoTime() < deadline) {
            Optional<DeviceInfo> d = registry.device(id);
            if (d.isPresent()) {
                last = d.get();
                if (last.status() != DeviceInfo.Status.WAITING) {
                    return last;
                }
            }
            Thread.sleep(20);
        }
        return last;
    }

    /** Waits (bounded) until the registry no longer lists the device, so its driver is closed. */
    static boolean awaitGone(DeviceRegistry registry, String id, long timeoutMs) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        while (System.nanoTime() < deadline) {
            if (registry.device(id).isEmpty()) {
                return true;
            }
            Thread.sleep(20);
        }
        return false;
    }
}
