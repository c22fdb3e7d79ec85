/**
 * vhost-user message codec: request codes, the 12-byte header and payload records, encoded and
 * decoded over {@link java.lang.foreign.MemorySegment}s in native byte order and validated on
 * decode (sizes, padding, alignment, reserved bits, overflow). Pure data: no sockets, no state.
 * Meaning-level checks (feature negotiation, queue state) belong to the front-end and back-end.
 * Source: QEMU {@code docs/interop/vhost-user.rst}; rust-vmm {@code vhost_user/message.rs}.
 *
 * <p>Implementation package: private to its bundle (not exported); other bundles reach it only
 * through the services it registers.
 */
package com.vhost.user.message;
