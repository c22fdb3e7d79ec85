/**
 * vhost-user frontend (QEMU {@code docs/interop/vhost-user.rst}).
 *
 * <p>Implementation package: private to its bundle (not exported); other bundles reach it only
 * through the services it registers.
 */
package com.vhost.user.frontend;
