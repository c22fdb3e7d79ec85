/**
 * vhost-user frontend (QEMU {@code docs/interop/vhost-user.rst}).
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package com.vhost.user.frontend;
