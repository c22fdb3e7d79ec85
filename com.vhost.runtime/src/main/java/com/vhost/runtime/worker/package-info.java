/**
 * Back-end queue workers: a thread per device serving its queues on kick eventfds or by polling,
 * and the optional per-queue stop/start of a model ({@link com.vhost.runtime.worker.PerQueueDevice}).
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.1.0")
package com.vhost.runtime.worker;
