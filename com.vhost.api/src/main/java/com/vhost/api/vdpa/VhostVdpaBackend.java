package com.vhost.api.vdpa;

import com.vhost.api.ConfigSpaceBackend;
import com.vhost.api.DeviceStatusBackend;
import com.vhost.api.SuspendableBackend;
import com.vhost.api.VhostBackend;
import com.vhost.api.VhostException;
import com.vhost.api.VringEnableBackend;
import org.osgi.annotation.versioning.ProviderType;

/**
 * A vhost-vdpa device ({@code /dev/vhost-vdpa-N}, Linux {@code drivers/vhost/vdpa.c} and
 * {@code include/uapi/linux/vhost.h}; rust-vmm {@code vhost/src/vdpa.rs}, {@code VhostVdpa:
 * VhostBackend}): the transport-neutral {@link VhostBackend} plus the VDPA ioctls and the backend
 * features. It drives the device status itself, has the device's config space, enables rings one
 * by one and, with backend features SUSPEND and RESUME, suspends. Memory is mapped through IOTLB
 * messages at IOVA = guest-physical address, so ring addresses given to
 * {@link #setVringAddr} are IOVAs.
 */
@ProviderType
public interface VhostVdpaBackend
        extends VhostBackend, VringEnableBackend, ConfigSpaceBackend, DeviceStatusBackend, SuspendableBackend {
    /**
     * {@code VHOST_GET_BACKEND_FEATURES}.
     *
     * @return the backend feature bits offered ({@code VHOST_BACKEND_F_*}: IOTLB_MSG_V2 1,
     *     IOTLB_BATCH 2, IOTLB_ASID 3, SUSPEND 4, RESUME 5, ...; see {@link com.vhost.api.VhostFeatures})
     */
    long getBackendFeatures() throws VhostException;

    /** {@code VHOST_SET_BACKEND_FEATURES}: the backend features in force from now on. */
    void setBackendFeatures(long features) throws VhostException;

    /** {@code VHOST_VDPA_GET_DEVICE_ID}. @return the VirtIO device ID (1 net, 2 block) */
    int deviceId() throws VhostException;

    /** {@code VHOST_VDPA_GET_IOVA_RANGE}. @return {first, last} usable IOVA, inclusive */
    long[] iovaRange() throws VhostException;

    /** {@code VHOST_VDPA_GET_VRING_NUM}. @return the largest queue size the device supports */
    int maxQueueSize() throws VhostException;

    /** {@code VHOST_VDPA_GET_CONFIG_SIZE}. @return the config space size in bytes */
    int configSize() throws VhostException;

    /** {@code VHOST_VDPA_GET_VQS_COUNT}. @return the number of virtqueues */
    int vqsCount() throws VhostException;
}
