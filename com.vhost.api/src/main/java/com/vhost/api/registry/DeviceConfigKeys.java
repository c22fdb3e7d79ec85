package com.vhost.api.registry;

/**
 * The one home of the device configuration contract: the property names of a device's
 * Configuration Admin factory configuration (PID {@value DeviceRegistry#DEVICE_FACTORY_PID}, e.g.
 * a {@code conf/com.vhost.device-disk0.cfg} file), of the map handed to
 * {@link VirtioDriverFactory#create}, and of {@link com.vhost.api.VhostTarget} options. The
 * registry's metatype, the driver factories, the CLI and {@code platform/README.md} use these
 * names; a test checks that the metatype attributes map onto them.
 *
 * <p>Values may be strings, numbers or booleans; a value that does not parse is refused with a
 * message naming the property. Names are dotted lower case ({@code queue.size}); a property
 * {@code option.<key>} becomes the target option {@code <key>}.
 */
public final class DeviceConfigKeys {
    private DeviceConfigKeys() {}

    // ---- what the registry reads -------------------------------------------------------------

    /** Short VirtIO device type: {@code blk} or {@code net} (a {@link VirtioDriverFactory#DEVICE_TYPE}). */
    public static final String DEVICE_TYPE = "device.type";

    /** Backend kind: {@code user}, {@code kernel} or {@code vdpa} ({@link com.vhost.api.VhostBackendType#id()}). */
    public static final String BACKEND_TYPE = "backend.type";

    /** vhost-user socket path, or device node ({@code /dev/vhost-net}, {@code /dev/vhost-vdpa-0}). */
    public static final String TARGET = "target";

    /** Optional LDAP filter on the {@link com.vhost.api.VhostOps} services, e.g. {@code (vhost.backend.name=user-2)}. */
    public static final String BACKEND_TARGET = "backend.target";

    /** Optional LDAP filter on the {@link VirtioDriverFactory} services. */
    public static final String FACTORY_TARGET = "factory.target";

    /** Prefix of target options: {@code option.mode=server} is the target option {@code mode}. */
    public static final String OPTION_PREFIX = "option.";

    // ---- what every driver reads -------------------------------------------------------------

    /** Request queues (blk) or queue pairs (net), 1..65535; default 1. */
    public static final String QUEUES = "queues";

    /** Descriptors per queue, a power of two, 1..32768; default 256 (registry), 128 (blk factory alone). */
    public static final String QUEUE_SIZE = "queue.size";

    /** {@code true}: the driver busy-polls its used rings instead of sleeping on call eventfds; default false. */
    public static final String POLL = "poll";

    /**
     * {@code true}: the driver asks for packed virtqueues (VIRTIO_F_RING_PACKED, VIRTIO 1.2 section
     * 2.8) and uses split ones, with a log line, when the back-end does not offer them; default
     * false (split). On packed rings a net driver restarts them fresh on a rebind (frames waiting to
     * be sent are dropped) and a blk driver refuses hot-swap and detach; both refuse snapshot and
     * restore. Since 1.5.
     */
    public static final String PACKED = "packed";

    /**
     * Default {@code true}: the driver negotiates VIRTIO_F_IN_ORDER (VIRTIO 1.2 sections 2.7.9 and
     * 2.8.8) when the back-end offers it, taking descriptors in ring order and accepting one used
     * element for a batch of buffers; {@code false} leaves it out, so a rebind may also go to a
     * back-end that does not offer it. Since 1.6.
     */
    public static final String IN_ORDER = "in.order";

    /**
     * Milliseconds, 0..3600000, default 10000: how long requests wait while a running device has no
     * backend (its backend went away, or a swap is under way); after that they fail with
     * {@link com.vhost.api.VhostDisconnectedException}.
     */
    public static final String SWAP_WAIT_MS = "swap.wait.ms";

    /**
     * Default {@code true}: when a running driver's back-end goes away it detaches and its requests
     * wait up to {@link #SWAP_WAIT_MS} for a rebind. {@code false}: outstanding and new requests
     * fail at once with {@link com.vhost.api.VhostDisconnectedException} (one-shot tools).
     */
    public static final String DETACH_ON_LOSS = "detach.on.loss";

    // ---- virtio-blk driver ---------------------------------------------------------------------

    /** Bytes of the blk driver's shared buffer pool (data buffers of requests); default 16 MiB. */
    public static final String BUFFER_POOL_BYTES = "buffer.pool.bytes";

    // ---- virtio-net driver ---------------------------------------------------------------------

    /** Bytes of each posted receive buffer; default 2048. */
    public static final String RX_BUFFER_BYTES = "rx.buffer.bytes";

    /** {@code true} (default): negotiate VIRTIO_NET_F_MRG_RXBUF when the back-end offers it. */
    public static final String MRG_RXBUF = "mrg.rxbuf";

    /** MAC address {@code aa:bb:cc:dd:ee:ff}; default the device's, else a random local one. */
    public static final String MAC = "mac";

    // ---- back-end device models (com.vhost.api.backend.DeviceModelFactory) ----------------------
    // A model also reads QUEUES (request queues, or queue pairs for net), QUEUE_SIZE (the largest
    // ring it accepts; default 256), POLL (its queue workers busy-poll), and net models MAC.

    /**
     * blk model: the raw image to serve: a regular file or a block device whose size is a positive
     * multiple of 512 bytes; a FIFO, character device, directory or socket, an empty file or another
     * size is refused with an {@link IllegalArgumentException} naming the path.
     */
    public static final String IMAGE = "image";

    /** blk model: serve a zero-filled disk of this many bytes held in memory instead of an image. */
    public static final String MEMORY_SIZE = "memory.size";

    /** blk model: {@code true} offers VIRTIO_BLK_F_RO and refuses writes; default false. */
    public static final String READ_ONLY = "read.only";

    /**
     * blk model: how the image's I/O is carried out: {@code threads} (default: synchronous
     * {@code pread}/{@code pwrite} on the queue worker) or {@code io_uring} (many requests in flight
     * per queue, completed in any order; refused naming why where io_uring is unavailable, e.g.
     * {@code kernel.io_uring_disabled}). Since 1.4.0.
     */
    public static final String AIO = "aio";

    /** blk model: {@code true} opens the image O_DIRECT (needs {@code aio=io_uring}); default false. Since 1.4.0. */
    public static final String DIRECT = "direct";

    /** net model: bridge to this host TAP interface; absent: the loopback model (frames come back). */
    public static final String TAP = "tap";

    /** net model: the MTU offered in config space (VIRTIO_NET_F_MTU), 68..65535; default 1500. */
    public static final String MTU = "mtu";

    // ---- target options (set as option.<key> in a configuration) --------------------------------

    /** vhost-user: {@code client} (connect; default) or {@code server} (listen for one back-end). */
    public static final String OPTION_MODE = "mode";

    /** vhost-user: milliseconds a connect (client) or accept (server) may take; default 5000. */
    public static final String OPTION_CONNECT_TIMEOUT_MS = "connect.timeout.ms";

    /** vhost-user: milliseconds each wait for a back-end's reply may take; default 10000. */
    public static final String OPTION_REPLY_TIMEOUT_MS = "reply.timeout.ms";

    /** vhost-net: the TAP interface to attach (required for {@code backend.type=kernel}). */
    public static final String OPTION_TAP = "tap";

    /**
     * vhost-net: receive/transmit queue pairs, one {@code /dev/vhost-net} fd each, 1..127; default 1.
     * The older spelling {@value #OPTION_QUEUE_PAIRS_LEGACY} is still accepted.
     */
    public static final String OPTION_QUEUE_PAIRS = "queue.pairs";

    /** The spelling of {@link #OPTION_QUEUE_PAIRS} before 1.3 ({@code queue-pairs}); still accepted. */
    public static final String OPTION_QUEUE_PAIRS_LEGACY = "queue-pairs";
}
