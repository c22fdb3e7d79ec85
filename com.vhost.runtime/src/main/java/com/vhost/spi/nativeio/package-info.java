/**
 * Linux system calls through Panama FFM (no JNI, no Unsafe): memfd, mmap, eventfd, epoll, poll,
 * fstat, ioctl, pipes and AF_UNIX sockets with SCM_RIGHTS fd passing. Every failure is a
 * {@link com.vhost.api.VhostNativeException} naming the call and its errno. Structure layouts are
 * those of x86_64 and aarch64 Linux (LP64).
 *
 * <p>1.1.0: {@code UnixServer} listens privately (mode 0600 whatever the umask, or a mode and group
 * given to {@code listen(Path, int, String)}), refuses a path a live server answers on and any
 * path that is not a socket; {@code Linux.fstat}/{@code stat}/{@code lstat} ({@code FileStat})
 * and {@code Linux.umask}.
 *
 * <p>1.2.0: {@code IoUring}, an io_uring through the raw system calls with its rings mapped.
 *
 * <p>1.3.0: {@code Scheduling}, SCHED_FIFO for a hot-swap's control threads (sched_setscheduler
 * with SCHED_RESET_ON_FORK) with a CPU budget for threads that serve a peer, and a thread's CPU
 * time (CLOCK_THREAD_CPUTIME_ID).
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.3.0")
package com.vhost.spi.nativeio;
