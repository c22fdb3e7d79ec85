package com.vhost.registry;

import com.vhost.api.registry.DeviceRegistry;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/**
 * One device, as a Configuration Admin factory configuration of PID
 * {@value DeviceRegistry#DEVICE_FACTORY_PID}. Attribute names map to property names by the
 * metatype rule ({@code device_type} is {@code device.type}). Values may be strings or numbers;
 * {@link DeviceSettings#parse} validates them and names the offending property.
 *
 * <p>Besides these, properties named {@code option.<key>} become {@link com.vhost.api.VhostTarget}
 * options ({@code option.mode=server}, {@code option.connect.timeout.ms=2000}).
 */
@ObjectClassDefinition(
        name = "vhost device",
        description = "A VirtIO device driven by this platform through a vhost backend")
public @interface DeviceConfig {
    @AttributeDefinition(name = "Device type", description = "Short VirtIO device type: blk or net")
    String device_type() default "blk";

    @AttributeDefinition(name = "Backend type", description = "Kind of vhost backend: user, kernel or vdpa")
    String backend_type() default "user";

    @AttributeDefinition(name = "Target", description = "vhost-user socket path, or device node (/dev/vhost-net, /dev/vhost-vdpa-0)")
    String target();

    @AttributeDefinition(name = "Queues", description = "Number of request queues (1..65535)")
    int queues() default 1;

    @AttributeDefinition(name = "Queue size", description = "Descriptors per queue, a power of two (1..32768)")
    int queue_size() default 256;

    @AttributeDefinition(name = "Swap wait", description = "Milliseconds requests wait while the running device has"
            + " no backend (its backend went away; hot-swap), 0..3600000; after that they fail with a clear error")
    int swap_wait_ms() default 10000;

    @AttributeDefinition(
            name = "Backend filter",
            description = "Optional LDAP filter selecting the VhostOps service, e.g. (vhost.backend.name=user-2); "
                    + "combined with the backend type",
            required = false)
    String backend_target();
}
