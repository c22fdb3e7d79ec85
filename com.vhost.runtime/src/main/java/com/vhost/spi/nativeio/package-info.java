/**
 * Linux system calls through Panama FFM (no JNI, no Unsafe): memfd, mmap, eventfd, epoll, poll,
 * fstat, ioctl, pipes and AF_UNIX sockets with SCM_RIGHTS fd passing. Every failure is a
 * {@link com.vhost.api.VhostNativeException} naming the call and its errno. Structure layouts are
 * those of x86_64 and aarch64 Linux (LP64).
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.1.0")
package com.vhost.spi.nativeio;
