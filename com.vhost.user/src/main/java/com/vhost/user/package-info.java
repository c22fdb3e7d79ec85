/**
 * vhost-user transport: {@link com.vhost.user.VhostUserOps}, the {@code VhostOps} service of type
 * {@code user}.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package com.vhost.user;
