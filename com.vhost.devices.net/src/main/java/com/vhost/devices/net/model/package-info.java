/**
 * virtio-net back-end device models for the vhost-user back-end server, on the common
 * {@link com.vhost.devices.net.model.AbstractNetModel}: {@link
 * com.vhost.devices.net.model.LoopbackNetModel} returns every transmitted frame on the receive
 * queue of the same pair; {@link com.vhost.devices.net.model.TapNetModel} bridges the device to a
 * host TAP interface.
 *
 * <p>Implementation package: private to its bundle (not exported); other bundles reach it only
 * through the services it registers.
 */
package com.vhost.devices.net.model;
