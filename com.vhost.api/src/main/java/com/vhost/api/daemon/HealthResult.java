package com.vhost.api.daemon;

/**
 * One health check's outcome, as the daemon's {@code health} method and the web health checks
 * report it.
 *
 * @param name {@code device ID}, {@code served NAME} or {@code bundle SYMBOLIC-NAME}
 * @param status the outcome
 * @param message why, for humans (status, back-end, target, detail)
 */
public record HealthResult(String name, Status status, String message) {
    /** Outcome, from best to worst. */
    public enum Status { OK, WARN, CRITICAL }

    /** @return the worse of {@code a} and {@code b} */
    public static Status worse(Status a, Status b) {
        return a.compareTo(b) >= 0 ? a : b;
    }
}
