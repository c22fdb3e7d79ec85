/**
 * vhost-user transport: {@link com.vhost.user.VhostUserOps}, the {@code VhostOps} service of type
 * {@code user}.
 *
 * <p>Implementation package: private to its bundle (not exported); other bundles reach it only
 * through the services it registers.
 */
package com.vhost.user;
