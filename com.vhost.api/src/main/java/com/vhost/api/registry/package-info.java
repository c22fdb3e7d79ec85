/**
 * The registry's API: device driver factories that device bundles register, and the registry
 * service that binds configured devices to {@link com.vhost.api.VhostOps} backends.
 *
 * <p>1.4.0: {@code DeviceConfigKeys.AIO} and {@code DIRECT} (the blk model's I/O engine).
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.6.0")
package com.vhost.api.registry;
