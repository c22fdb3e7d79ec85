/**
 * vhost-user transport: {@link com.vhost.user.VhostUserOps}, the {@code VhostOps} service of type
 * {@code user}. 2.0.0: {@code open} returns the {@link com.vhost.api.user.VhostUserBackend}.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("2.0.0")
package com.vhost.user;
