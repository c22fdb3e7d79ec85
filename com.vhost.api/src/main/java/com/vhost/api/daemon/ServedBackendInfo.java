package com.vhost.api.daemon;

import java.util.Map;

/**
 * A back-end the daemon serves ({@code backend_serve_blk}, {@code backend_serve_net}).
 *
 * @param name its name
 * @param type {@code blk} or {@code net}
 * @param socket the listening socket's path
 * @param sessions front-end sessions accepted so far
 * @param model the model for humans ({@code DeviceModel.describe()})
 * @param counters the model's counters by name ({@code DeviceModel.counters()}: for blk
 *     {@code requests}, {@code bytes.read}, {@code bytes.written} and per queue; for net per queue
 *     pair packets and bytes)
 */
public record ServedBackendInfo(String name, String type, String socket, long sessions, String model, Map<String, Long> counters) {
    /** Copies {@code counters}. */
    public ServedBackendInfo {
        counters = Map.copyOf(counters);
    }
}
