package com.vhost.api.backend;

/**
 * Who may connect to a {@link BackendServer}'s listening socket: the permission bits and group of
 * the socket file (socket(7): connecting to an AF_UNIX socket needs write permission on it). The
 * mode is applied exactly, whatever the process's umask.
 *
 * @param mode permission bits, {@code 0..0777}, including the owner's read and write ({@code 0600});
 *     e.g. {@code 0660} lets the group connect
 * @param group a group name (or number) for the socket file, or null to keep the group the process
 *     creates files with
 */
public record SocketOptions(int mode, String group) {
    /** Mode of a private socket: owner read and write, nobody else. */
    public static final int PRIVATE_MODE = 0600;

    /** The default: mode {@value #PRIVATE_MODE}, the process's group. */
    public static final SocketOptions PRIVATE = new SocketOptions(PRIVATE_MODE, null);

    /** @throws IllegalArgumentException for a mode outside 0..0777 or without the owner's rw, or a blank group */
    public SocketOptions {
        if ((mode & ~0777) != 0 || (mode & 0600) != 0600) {
            throw new IllegalArgumentException("socket mode 0" + Integer.toOctalString(mode)
                    + " must be within 0777 and give the owner read and write (0600)");
        }
        if (group != null && group.isBlank()) {
            throw new IllegalArgumentException("socket group must not be blank");
        }
    }

    /**
     * Parses an octal mode as {@code chmod(1)} writes it: {@code 0660}, {@code 660}.
     *
     * @return the permission bits
     * @throws IllegalArgumentException when {@code text} is not 1..4 octal digits, naming it
     */
    public static int parseMode(String text) {
        if (text == null || !text.matches("[0-7]{1,4}")) {
            throw new IllegalArgumentException("socket mode '" + text + "' is not an octal mode such as 0660");
        }
        return Integer.parseInt(text, 8);
    }
}
