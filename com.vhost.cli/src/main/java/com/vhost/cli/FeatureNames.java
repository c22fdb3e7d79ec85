package com.vhost.cli;

import com.vhost.api.VhostFeatures;
import com.vhost.api.blk.VirtioBlk;
import com.vhost.api.virtio.VirtioFeatures;
import java.util.Map;
import java.util.StringJoiner;
import java.util.TreeMap;

/** Names of virtio-blk and transport feature bits (VIRTIO 1.2 sections 5.2.3 and 6). */
public final class FeatureNames {
    private FeatureNames() {}

    private static final Map<Integer, String> BLK = new TreeMap<>(Map.ofEntries(
            Map.entry(VirtioBlk.F_SIZE_MAX, "SIZE_MAX"),
            Map.entry(VirtioBlk.F_SEG_MAX, "SEG_MAX"),
            Map.entry(VirtioBlk.F_GEOMETRY, "GEOMETRY"),
            Map.entry(VirtioBlk.F_RO, "RO"),
            Map.entry(VirtioBlk.F_BLK_SIZE, "BLK_SIZE"),
            Map.entry(VirtioBlk.F_FLUSH, "FLUSH"),
            Map.entry(VirtioBlk.F_TOPOLOGY, "TOPOLOGY"),
            Map.entry(VirtioBlk.F_CONFIG_WCE, "CONFIG_WCE"),
            Map.entry(VirtioBlk.F_MQ, "MQ"),
            Map.entry(VirtioBlk.F_DISCARD, "DISCARD"),
            Map.entry(VirtioBlk.F_WRITE_ZEROES, "WRITE_ZEROES"),
            Map.entry(VirtioBlk.F_LIFETIME, "LIFETIME"),
            Map.entry(VirtioBlk.F_SECURE_ERASE, "SECURE_ERASE"),
            Map.entry(VhostFeatures.F_LOG_ALL, "LOG_ALL"),
            Map.entry(VirtioFeatures.F_INDIRECT_DESC, "RING_INDIRECT_DESC"),
            Map.entry(VirtioFeatures.F_EVENT_IDX, "RING_EVENT_IDX"),
            Map.entry(VhostFeatures.F_PROTOCOL_FEATURES, "PROTOCOL_FEATURES"),
            Map.entry(VirtioFeatures.F_VERSION_1, "VERSION_1"),
            Map.entry(VirtioFeatures.F_ACCESS_PLATFORM, "ACCESS_PLATFORM"),
            Map.entry(VirtioFeatures.F_RING_PACKED, "RING_PACKED"),
            Map.entry(VirtioFeatures.F_IN_ORDER, "IN_ORDER"),
            Map.entry(VirtioFeatures.F_ORDER_PLATFORM, "ORDER_PLATFORM"),
            Map.entry(VirtioFeatures.F_NOTIFICATION_DATA, "NOTIFICATION_DATA"),
            Map.entry(VirtioFeatures.F_RING_RESET, "RING_RESET")));

    /** @return e.g. {@code "FLUSH MQ VERSION_1 bit41"}; bits without a name appear as {@code bitN} */
    public static String blk(long features) {
        StringJoiner j = new StringJoiner(" ");
        for (int bit = 0; bit < 64; bit++) {
            if ((features & (1L << bit)) != 0) {
                j.add(BLK.getOrDefault(bit, "bit" + bit));
            }
        }
        return j.length() == 0 ? "(none)" : j.toString();
    }
}
