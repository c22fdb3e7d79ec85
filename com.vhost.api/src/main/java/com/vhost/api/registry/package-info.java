/**
 * The registry's API: device driver factories that device bundles register, and the registry
 * service that binds configured devices to {@link com.vhost.api.VhostOps} backends.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.3.1")
package com.vhost.api.registry;
