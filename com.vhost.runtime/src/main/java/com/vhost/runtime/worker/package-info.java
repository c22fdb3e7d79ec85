/**
 * Back-end queue workers: a thread per device serving its queues on kick eventfds or by polling.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package com.vhost.runtime.worker;
