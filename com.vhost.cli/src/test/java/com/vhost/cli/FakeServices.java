package com.vhost.cli;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostBackendType;
import com.vhost.api.VhostOps;
import com.vhost.api.VhostTarget;
import com.vhost.api.blk.BlockDevice;
import com.vhost.api.registry.DeviceRegistry;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.osgi.service.cm.ConfigurationAdmin;

/** CliServices over test doubles: every open returns the same in-memory device; output is captured. */
final class FakeServices implements CliServices {
    final StringWriter outText = new StringWriter();
    final StringWriter errText = new StringWriter();
    final PrintWriter out = new PrintWriter(outText, true);
    final PrintWriter err = new PrintWriter(errText, true);
    final List<String> openedTargets = new ArrayList<>();
    final List<int[]> driverQueues = new ArrayList<>();
    final List<String> backendTypes = new ArrayList<>();
    final java.lang.foreign.MemorySegment disk = java.lang.foreign.Arena.ofAuto().allocate(1 << 20, 4096);
    final List<MemoryBlockDevice> devices = new ArrayList<>();

    @Override
    public DeviceRegistry registry() {
        throw new UnsupportedOperationException("registry not used by this test");
    }

    @Override
    public ConfigurationAdmin configurationAdmin() {
        throw new UnsupportedOperationException("configuration admin not used by this test");
    }

    @Override
    public VhostOps backend(String type, Duration wait) {
        backendTypes.add(type);
        return new VhostOps() {
            @Override
            public VhostBackendType type() {
                return VhostBackendType.fromId(type);
            }

            @Override
            public String name() {
                return "fake-" + type;
            }

            @Override
            public VhostBackend open(VhostTarget target) {
                openedTargets.add(target.path());
                return (VhostBackend) Proxy.newProxyInstance(VhostBackend.class.getClassLoader(),
                        new Class<?>[] {VhostBackend.class}, (p, m, a) -> m.getName().equals("close") ? null
                                : m.getName().equals("describe") ? "fake" : null);
            }

            @Override
            public Optional<String> unusableReason(VhostTarget target) {
                return Optional.empty();
            }
        };
    }

    @Override
    public BlkTools blkTools() {
        return new BlkTools() {
            @Override
            public Served serveImage(Path socket, Path image, boolean readOnly, int queues, int queueSize) {
                throw new IllegalStateException("serving is not part of this test");
            }

            @Override
            public Served serveMemory(Path socket, long capacityBytes, int queues, int queueSize) {
                throw new IllegalStateException("serving is not part of this test");
            }

            @Override
            public RawQueue rawQueue(BlockDevice device, int index, CompletionSink sink) {
                return null;
            }

            @Override
            public BlockDevice openDevice(VhostBackend backend, int queues, int queueSize, boolean poll) {
                driverQueues.add(new int[] {queues, queueSize});
                MemoryBlockDevice d = new MemoryBlockDevice(disk, queues);
                devices.add(d);
                return d;
            }
        };
    }

    @Override
    public void interactiveShell() {
        throw new IllegalStateException("no shell in unit tests");
    }

    @Override
    public void awaitShutdown() {
        throw new IllegalStateException("no framework in unit tests");
    }

    @Override
    public PrintWriter out() {
        return out;
    }

    @Override
    public PrintWriter err() {
        return err;
    }
}
