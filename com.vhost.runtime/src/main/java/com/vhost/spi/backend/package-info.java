/**
 * Back-end queue workers: a thread per device serving its queues on kick eventfds or by polling,
 * the optional per-queue stop/start of a model ({@link com.vhost.spi.backend.PerQueueDevice}), and
 * the life-cycle state machine such models share ({@link com.vhost.spi.backend.WorkerDevice}).
 *
 * <p>1.2.0: {@link com.vhost.spi.backend.AsyncHandler}, a handler whose requests complete later
 * (io_uring): the worker watches its completion fds and drains a queue before it lets it go.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.3.0")
package com.vhost.spi.backend;
