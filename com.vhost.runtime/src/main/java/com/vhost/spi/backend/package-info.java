/**
 * Back-end queue workers: a thread per device serving its queues on kick eventfds or by polling,
 * the optional per-queue stop/start of a model ({@link com.vhost.spi.backend.PerQueueDevice}), and
 * the life-cycle state machine such models share ({@link com.vhost.spi.backend.WorkerDevice}).
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.1.0")
package com.vhost.spi.backend;
