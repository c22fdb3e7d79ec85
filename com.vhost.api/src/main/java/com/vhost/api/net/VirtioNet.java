package com.vhost.api.net;

/**
 * virtio-net constants (OASIS VIRTIO 1.2, section 5.1; Linux {@code include/uapi/linux/virtio_net.h}).
 * Feature values are bit numbers (use {@link com.vhost.api.virtio.VirtioFeatures#bit(int)}); config
 * offsets are bytes into the device-specific config space; all multi-byte fields are
 * little-endian.
 */
public final class VirtioNet {
    private VirtioNet() {}

    // ---- feature bits (5.1.3) ----
    public static final int F_CSUM = 0;
    public static final int F_GUEST_CSUM = 1;
    public static final int F_CTRL_GUEST_OFFLOADS = 2;
    public static final int F_MTU = 3;
    public static final int F_MAC = 5;
    public static final int F_GUEST_TSO4 = 7;
    public static final int F_GUEST_TSO6 = 8;
    public static final int F_GUEST_ECN = 9;
    public static final int F_GUEST_UFO = 10;
    public static final int F_HOST_TSO4 = 11;
    public static final int F_HOST_TSO6 = 12;
    public static final int F_HOST_ECN = 13;
    public static final int F_HOST_UFO = 14;
    public static final int F_MRG_RXBUF = 15;
    public static final int F_STATUS = 16;
    public static final int F_CTRL_VQ = 17;
    public static final int F_CTRL_RX = 18;
    public static final int F_CTRL_VLAN = 19;
    public static final int F_GUEST_ANNOUNCE = 21;
    public static final int F_MQ = 22;
    public static final int F_CTRL_MAC_ADDR = 23;
    public static final int F_HASH_REPORT = 57;
    public static final int F_RSS = 60;
    public static final int F_SPEED_DUPLEX = 63;

    // ---- virtio_net_hdr_v1 (5.1.6): u8 flags; u8 gso_type; le16 hdr_len, gso_size, csum_start, csum_offset, num_buffers ----
    /** Size of {@code virtio_net_hdr_v1} in bytes (VERSION_1 always uses it, with or without MRG_RXBUF). */
    public static final int HDR_SIZE = 12;
    public static final int HDR_FLAGS = 0;
    public static final int HDR_GSO_TYPE = 1;
    public static final int HDR_HDR_LEN = 2;
    public static final int HDR_GSO_SIZE = 4;
    public static final int HDR_CSUM_START = 6;
    public static final int HDR_CSUM_OFFSET = 8;
    public static final int HDR_NUM_BUFFERS = 10;
    public static final int HDR_F_NEEDS_CSUM = 1;
    public static final int HDR_F_DATA_VALID = 2;
    public static final int HDR_F_RSC_INFO = 4;
    public static final int GSO_NONE = 0;
    public static final int GSO_TCPV4 = 1;
    public static final int GSO_UDP = 3;
    public static final int GSO_TCPV6 = 4;
    public static final int GSO_UDP_L4 = 5;
    public static final int GSO_ECN = 0x80;

    // ---- config space (5.1.4) ----
    public static final int CFG_MAC = 0;
    public static final int CFG_STATUS = 6;
    public static final int CFG_MAX_VIRTQUEUE_PAIRS = 8;
    public static final int CFG_MTU = 10;
    public static final int CFG_SPEED = 12;
    public static final int CFG_DUPLEX = 16;
    /** Config bytes up to and including {@code duplex}. */
    public static final int CONFIG_SIZE = 17;
    public static final int S_LINK_UP = 1;
    public static final int S_ANNOUNCE = 2;
    public static final int MAC_BYTES = 6;

    // ---- control virtqueue (5.1.6.5): {u8 class; u8 command} + data + u8 ack ----
    public static final int CTRL_HDR_SIZE = 2;
    public static final int CTRL_OK = 0;
    public static final int CTRL_ERR = 1;
    public static final int CTRL_RX = 0;
    public static final int CTRL_RX_PROMISC = 0;
    public static final int CTRL_RX_ALLMULTI = 1;
    public static final int CTRL_RX_ALLUNI = 2;
    public static final int CTRL_RX_NOMULTI = 3;
    public static final int CTRL_RX_NOUNI = 4;
    public static final int CTRL_RX_NOBCAST = 5;
    public static final int CTRL_MAC = 1;
    public static final int CTRL_MAC_TABLE_SET = 0;
    public static final int CTRL_MAC_ADDR_SET = 1;
    public static final int CTRL_VLAN = 2;
    public static final int CTRL_ANNOUNCE = 3;
    public static final int CTRL_ANNOUNCE_ACK = 0;
    public static final int CTRL_MQ = 4;
    public static final int CTRL_MQ_VQ_PAIRS_SET = 0;
    public static final int CTRL_MQ_VQ_PAIRS_MIN = 1;
    public static final int CTRL_MQ_VQ_PAIRS_MAX = 0x8000;
    public static final int CTRL_GUEST_OFFLOADS = 5;
    public static final int CTRL_GUEST_OFFLOADS_SET = 0;

    // ---- queues (5.1.2): rx0, tx0, rx1, tx1, ..., then ctrl ----
    /** @return the virtqueue index of the receive queue of pair {@code pair} */
    public static int rxQueue(int pair) {
        return 2 * pair;
    }

    /** @return the virtqueue index of the transmit queue of pair {@code pair} */
    public static int txQueue(int pair) {
        return 2 * pair + 1;
    }

    /** @return the virtqueue index of the control queue for {@code maxPairs} queue pairs */
    public static int ctrlQueue(int maxPairs) {
        return 2 * maxPairs;
    }

    /** Smallest Ethernet frame without FCS, bytes. */
    public static final int MIN_FRAME = 60;
    /** Ethernet header (destination, source, ethertype), bytes. */
    public static final int ETH_HEADER = 14;
    /** Default MTU when the device offers none (VIRTIO_NET_F_MTU not negotiated), bytes. */
    public static final int DEFAULT_MTU = 1500;
}
