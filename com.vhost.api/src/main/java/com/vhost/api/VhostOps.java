package com.vhost.api;

import java.util.Optional;
import org.osgi.annotation.versioning.ProviderType;

/**
 * The backend service: one per backend bundle, registered with the service properties
 * {@link #BACKEND_TYPE} ({@code kernel}, {@code user} or {@code vdpa}) and {@link #BACKEND_NAME},
 * and optionally {@code service.ranking}.
 *
 * <p>QEMU's {@code VhostOps} (first seed) is a table of functions over a {@code struct vhost_dev *};
 * in Java the table is bound to its connection: {@link #open(VhostTarget)} connects to one
 * back-end and returns the {@link VhostBackend} that carries the transport-neutral operations
 * (features, owner, memory table, vrings, log base, IOTLB), plus the capability interfaces and
 * the per-transport extension ({@link com.vhost.api.user.VhostUserBackend},
 * {@link com.vhost.api.vdpa.VhostVdpaBackend}) of what its transport has besides.
 */
@ProviderType
public interface VhostOps {
    /** Service property: the backend type's {@link VhostBackendType#id()}. */
    String BACKEND_TYPE = "vhost.backend.type";
    /** Service property: a name unique among backends, e.g. {@code user} or {@code user-2}. */
    String BACKEND_NAME = "vhost.backend.name";

    /** @return the kind of back-end this service reaches */
    VhostBackendType type();

    /** @return the value of {@link #BACKEND_NAME} */
    String name();

    /**
     * Connects to one back-end.
     *
     * @param target socket path or device node plus options
     * @return an open backend; the caller closes it
     * @throws VhostNativeException when the socket or node cannot be opened (errno names why)
     * @throws VhostException for any other failure while connecting
     */
    VhostBackend open(VhostTarget target) throws VhostException;

    /**
     * Checks, without side effects, whether {@link #open} could work on {@code target}.
     *
     * @return empty when usable, otherwise why not ("/dev/vhost-net: no such file")
     */
    Optional<String> unusableReason(VhostTarget target);
}
