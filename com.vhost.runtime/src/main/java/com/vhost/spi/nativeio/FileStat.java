package com.vhost.spi.nativeio;

/**
 * What {@link Linux#fstat(int)}, {@link Linux#stat(String)} and {@link Linux#lstat(String)} tell of an
 * open fd or a path: its type and permission bits and its size (stat(2), inode(7)).
 *
 * @param mode {@code st_mode}: the file type ({@link #S_IFMT} bits) and permission bits
 * @param size {@code st_size} in bytes: a regular file's (or memfd's) length; for pipes, sockets,
 *     eventfds and character devices a value without meaning as a length (usually 0)
 */
public record FileStat(int mode, long size) {
    /** Mask of the file-type bits of {@link #mode()} ({@code <sys/stat.h>}). */
    public static final int S_IFMT = 0170000;
    /** A regular file; a memfd is one too. */
    public static final int S_IFREG = 0100000;
    /** A directory. */
    public static final int S_IFDIR = 0040000;
    /** A character device. */
    public static final int S_IFCHR = 0020000;
    /** A FIFO (pipe). */
    public static final int S_IFIFO = 0010000;
    /** A socket. */
    public static final int S_IFSOCK = 0140000;
    /** A block device (its size: {@code ioctl(BLKGETSIZE64)}, {@link #size()} is 0). */
    public static final int S_IFBLK = 0060000;
    /** A symbolic link (only {@link Linux#lstat(String)} reports one). */
    public static final int S_IFLNK = 0120000;

    /** @return the file-type bits of {@link #mode()} ({@code mode & S_IFMT}) */
    public int type() {
        return mode & S_IFMT;
    }

    /** @return the permission bits, e.g. {@code 0600} */
    public int permissions() {
        return mode & 07777;
    }

    /** @return whether the fd is a regular file or memfd, the only kind whose size bounds a mapping */
    public boolean isRegularFile() {
        return type() == S_IFREG;
    }

    /** @return a short name of the file type: "regular file", "FIFO" (a pipe is one), "socket", ... */
    public String typeName() {
        return switch (type()) {
            case S_IFREG -> "regular file";
            case S_IFDIR -> "directory";
            case S_IFCHR -> "character device";
            case S_IFIFO -> "FIFO";
            case S_IFSOCK -> "socket";
            case S_IFBLK -> "block device";
            case S_IFLNK -> "symbolic link";
            case 0 -> "anonymous inode (eventfd, epoll, ...)";
            default -> "file of type 0" + Integer.toOctalString(type());
        };
    }
}
