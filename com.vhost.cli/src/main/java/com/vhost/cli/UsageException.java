package com.vhost.cli;

/**
 * A value given on the command line that the command cannot use (out of range, not a multiple of
 * the block size, an unknown mode); the message names the option and the value. Commands exit
 * with 2, picocli's usage-error code, as when picocli itself rejects an option, and print a hint
 * to the command's {@code --help}; other failures exit with {@link VhostCli#EXIT_FAILURE}.
 */
final class UsageException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    UsageException(String message) {
        super(message);
    }

    UsageException(String message, Throwable cause) {
        super(message, cause);
    }
}
