package com.vhost.api.registry;

import com.vhost.api.VhostBackendType;

/**
 * An active {@link com.vhost.api.VhostOps} service.
 *
 * @param name {@code vhost.backend.name}
 * @param type backend type
 * @param ranking {@code service.ranking} (0 when absent)
 * @param serviceId {@code service.id}
 * @param bundle the providing bundle's symbolic name
 */
public record BackendInfo(String name, VhostBackendType type, int ranking, long serviceId, String bundle) {}
