/** Guest memory: regions of shared memory addressed by guest-physical and front-end virtual addresses. */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.3.0")
package com.vhost.spi.memory;
