package com.vhost.user.backend.session;

import com.vhost.api.VhostNativeException;
import com.vhost.spi.nativeio.Linux;
import com.vhost.spi.nativeio.OwnedFd;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tells what kind of fd a front-end handed over and makes the ones the back-end keeps
 * non-blocking, so that no fd can block or spin a back-end thread (issue #10). Called once per
 * message that carries such an fd, never on the data path.
 *
 * <p>The kind is what {@code readlink("/proc/self/fd/N")} names: {@code anon_inode:[eventfd]} for
 * an eventfd (a file path is absolute, so no file can pose as one), {@code pipe:[ino]},
 * {@code socket:[ino]}, {@code /memfd:name (deleted)}, a file's path, or another anonymous inode.
 * Where {@code /proc} is not mounted the kind cannot be told: the fd is taken on trust (logged
 * once) and only made non-blocking; the queue worker still stops a queue whose kick fd hangs up
 * and a call write never blocks.
 *
 * <p>O_NONBLOCK belongs to the open file description, which the front-end shares: a front-end
 * that clears it again on its own end and then fills a call eventfd's counter to its maximum
 * could still block one write; nothing short of checking the flag on every write (a second
 * system call per notification) prevents that, and only that front-end's own session suffers.
 */
final class FdKinds {
    private static final Logger LOG = LoggerFactory.getLogger(FdKinds.class);
    static final String EVENTFD = "anon_inode:[eventfd]";
    private static volatile boolean procWarned;

    private FdKinds() {}

    /**
     * Checks that {@code fd}, which {@code req} carried for queue {@code index}, is an eventfd (for
     * a kick fd also: not in semaphore mode, where each read takes one of up to 2^64 - 2 kicks and
     * a flooded counter keeps the worker busy) and sets O_NONBLOCK on it. On a refusal {@code fd}
     * is closed.
     *
     * @param req the request's name, e.g. {@code SET_VRING_CALL}
     * @param index the queue index the message named (unsigned)
     * @param kick whether it is a kick fd (read by the queue worker)
     * @throws Refusal "SET_VRING_CALL for queue 0: fd is a pipe (pipe:[1234]), not an eventfd",
     *     or when the flag cannot be set
     */
    static void requireEventFd(String req, int index, OwnedFd fd, boolean kick) throws Refusal {
        String what = req + " for queue " + Integer.toUnsignedString(index);
        String link = link(fd.fd());
        if (link != null && !link.equals(EVENTFD)) {
            fd.close();
            throw new Refusal(what + ": fd is " + describe(link) + ", not an eventfd");
        }
        if (link != null && kick && semaphore(fd.fd())) {
            fd.close();
            throw new Refusal(what + ": fd is an eventfd in semaphore mode (EFD_SEMAPHORE), which a kick fd may not be");
        }
        nonBlocking(what, fd);
    }

    /**
     * Checks that {@code fd} is a socket (the backend request channel of SET_BACKEND_REQ_FD) and
     * sets O_NONBLOCK on it. On a refusal {@code fd} is closed.
     *
     * @throws Refusal "SET_BACKEND_REQ_FD: fd is a pipe (pipe:[1234]), not a socket"
     */
    static void requireSocket(String req, OwnedFd fd) throws Refusal {
        String link = link(fd.fd());
        if (link != null && !link.startsWith("socket:[")) {
            fd.close();
            throw new Refusal(req + ": fd is " + describe(link) + ", not a socket");
        }
        nonBlocking(req, fd);
    }

    private static void nonBlocking(String what, OwnedFd fd) throws Refusal {
        try {
            Linux.setNonBlocking(fd.fd());
        } catch (VhostNativeException e) {
            fd.close();
            throw new Refusal(what + ": cannot make the fd non-blocking: " + e.getMessage());
        }
    }

    /** @return what /proc/self/fd names {@code fd}, or null when /proc cannot tell */
    static String link(int fd) {
        try {
            return Linux.readlink("/proc/self/fd/" + fd);
        } catch (VhostNativeException e) {
            if (!procWarned) {
                procWarned = true;
                LOG.warn("cannot tell fd kinds ({}): fds from front-ends are taken on trust", e.getMessage());
            }
            return null;
        }
    }

    /** @return the kind of fd {@code link} names, with the link: "a pipe (pipe:[1234])" */
    static String describe(String link) {
        String kind;
        if (link.equals(EVENTFD)) {
            kind = "an eventfd";
        } else if (link.startsWith("pipe:[")) {
            kind = "a pipe";
        } else if (link.startsWith("socket:[")) {
            kind = "a socket";
        } else if (link.startsWith("/memfd:")) {
            kind = "a memfd";
        } else if (link.startsWith("anon_inode:")) {
            kind = "an anonymous inode";
        } else if (link.startsWith("/dev/")) {
            kind = "a device file";
        } else if (link.startsWith("/")) {
            kind = "a file";
        } else {
            kind = "an fd";
        }
        return kind + " (" + link + ")";
    }

    /**
     * @return whether the eventfd {@code fd} is in semaphore mode (false when fdinfo does not
     *     say). Read with open/read(2) into a small buffer: this runs for every SET_VRING_KICK, so
     *     inside a hot-swap's I/O pause, where a java.nio file read cost more than the rest of
     *     the request.
     */
    private static boolean semaphore(int fd) {
        String key = "eventfd-semaphore:";
        try (Arena a = Arena.ofConfined()) {
            int f = Linux.open("/proc/self/fdinfo/" + fd, 0); // O_RDONLY
            String info;
            try {
                MemorySegment buf = a.allocate(1024);
                long n = Linux.read(f, buf, buf.byteSize());
                info = n <= 0 ? "" : new String(buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.US_ASCII);
            } finally {
                Linux.closeQuietly(f);
            }
            int at = info.indexOf(key);
            if (at >= 0) {
                int end = info.indexOf('\n', at);
                return info.substring(at + key.length(), end < 0 ? info.length() : end).trim().equals("1");
            }
        } catch (VhostNativeException | RuntimeException e) {
            LOG.debug("cannot read /proc/self/fdinfo/{}: {}", fd, e.getMessage());
        }
        return false;
    }

    /**
     * Maps a shared area a message hands over with an fd (SET_LOG_BASE, SET_INFLIGHT_FD), checked
     * as memory regions are: {@code offset + size} must not overflow, the fd must be a regular
     * file or memfd (fstat(2)) at least {@code offset + size} bytes long. Mapped read-write and
     * shared from the page that holds {@code offset}; the area starts {@code offset % PAGE_SIZE}
     * bytes into the returned mapping. The fd stays the caller's.
     *
     * @param what the request and its fields, for the messages
     * @param mapBytes bytes to map from that page ({@code offset % PAGE_SIZE + size}, or more)
     * @return the mapping, to be unmapped by the caller
     * @throws Refusal naming the problem ("its fd (a pipe) is not a regular file or memfd", "reaches
     *     past the end of its fd (fd size 0x...)", an overflow, a failed fstat or mmap)
     */
    static java.lang.foreign.MemorySegment mapShared(String what, OwnedFd fd, long offset, long size, long mapBytes)
            throws Refusal {
        if (offset < 0 || offset > Long.MAX_VALUE - size - Linux.PAGE_SIZE) {
            throw new Refusal(what + ": offset + size overflows");
        }
        com.vhost.spi.nativeio.FileStat st;
        try {
            st = Linux.fstat(fd.fd());
        } catch (VhostNativeException e) {
            throw new Refusal(what + ": cannot fstat its fd: " + e.getMessage());
        }
        if (!st.isRegularFile()) {
            String l = link(fd.fd());
            throw new Refusal(what + ": its fd (" + (l == null ? st.typeName() : describe(l)) + ") is not a regular file or memfd");
        }
        if (st.size() < offset + size) {
            throw new Refusal(String.format("%s reaches past the end of its fd (fd size 0x%x)", what, st.size()));
        }
        try {
            return Linux.mmap(fd.fd(), offset & -Linux.PAGE_SIZE, mapBytes);
        } catch (VhostNativeException e) {
            throw new Refusal(what + ": mapping it failed: " + e.getMessage());
        }
    }
}
