package com.vhost.api.daemon;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.osgi.annotation.versioning.ProviderType;

/**
 * The running daemon as other bundles see it; {@code com.vhost.daemon} registers it while its
 * control socket listens. The results are those of the control socket's methods
 * ({@code backend_served_list}, {@code health}, {@code device_swap}): one logic, two ways in.
 * Thread-safe.
 */
@ProviderType
public interface DaemonView {
    /** Longest swap pause, in milliseconds, before a device's health is WARN. */
    long SWAP_PAUSE_LIMIT_MS = 500;

    /** @return the back-ends the daemon serves, by name */
    List<ServedBackendInfo> servedBackends();

    /**
     * @return every check, devices first (by id), then served back-ends (by name), then bundles
     *     that are not ACTIVE; the {@code health} method's status is the worst of them
     */
    List<HealthResult> health();

    /**
     * A device's health: BOUND is OK (WARN when its last swap paused I/O longer than
     * {@link #SWAP_PAUSE_LIMIT_MS}); WAITING for a first binding is WARN; FAILED, or WAITING after
     * it was detached from its back-end (the back-end died or went away), is CRITICAL.
     *
     * @param id a device id
     * @return the check named {@code device ID}, empty when no such device
     */
    Optional<HealthResult> deviceHealth(String id);

    /**
     * A served back-end's health: OK while it is served (its socket listens).
     *
     * @param name a served back-end's name
     * @return the check named {@code served NAME}, empty when no such back-end is served
     */
    Optional<HealthResult> servedHealth(String name);

    /**
     * Hot-swaps device {@code id} to {@code target}, as {@code device_swap} does.
     *
     * @param target a socket or node path, or the name of a VhostOps service
     * @param backendType {@code user}, {@code kernel} or {@code vdpa} to change the back-end type
     *     (the driver is re-created), or null/empty for the device's own type
     * @return the {@code device_swap} result: {@code id}, {@code from}, {@code to} (each
     *     {@code {backend, target}}), {@code pause_ms} (Double or null), {@code pause_measured},
     *     {@code switch_ms}, {@code message}
     * @throws java.util.NoSuchElementException when there is no such device
     * @throws IllegalArgumentException when {@code backendType} is not one of the three
     * @throws Exception from the registry (a {@code VhostException} naming the device and why the
     *     back-end refused) or Configuration Admin
     */
    Map<String, Object> swap(String id, String target, String backendType) throws Exception;
}
