package com.vhost.cli;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostBackendType;
import com.vhost.api.VhostOps;
import com.vhost.api.VhostTarget;
import com.vhost.api.blk.BlockDevice;
import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** CliServices over test doubles: every open returns the same in-memory device; output is captured. */
class FakeServices extends CapturingServices {
    final List<String> openedTargets = new ArrayList<>();
    final List<int[]> driverQueues = new ArrayList<>();
    final List<String> backendTypes = new ArrayList<>();
    final java.lang.foreign.MemorySegment disk = java.lang.foreign.Arena.ofAuto().allocate(1 << 20, 4096);
    final List<MemoryBlockDevice> devices = new ArrayList<>();

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
            public Served serveImage(Path socket, com.vhost.api.backend.SocketOptions access, Path image, boolean readOnly, int queues, int queueSize,
                    String aio, boolean direct, boolean randomOrder) {
                throw new IllegalStateException("serving is not part of this test");
            }

            @Override
            public Served serveMemory(Path socket, com.vhost.api.backend.SocketOptions access, long capacityBytes, int queues, int queueSize) {
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

}
