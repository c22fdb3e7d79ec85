package com.vhost.spi.driver;

import java.util.Map;

/**
 * Typed reads of device configuration values (Configuration Admin properties), which arrive as
 * numbers, booleans or strings depending on where the configuration came from (a {@code .cfg}
 * file, the Configurator, code). Used by the device bundles' driver factories.
 */
public final class ConfigValues {
    private ConfigValues() {}

    /**
     * @return {@code config.get(key)} as a long, or {@code def} when absent
     * @throws IllegalArgumentException naming the key and value when it is not a number
     */
    public static long number(Map<String, Object> config, String key, long def) {
        Object v = config.get(key);
        if (v == null) {
            return def;
        }
        if (v instanceof Number n) {
            return n.longValue();
        }
        try {
            return Long.parseLong(v.toString().trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + key + "' = '" + v + "' is not a number");
        }
    }

    /**
     * @return {@code config.get(key)} as a boolean, or {@code def} when absent
     * @throws IllegalArgumentException naming the key and value when it is not true or false
     */
    public static boolean bool(Map<String, Object> config, String key, boolean def) {
        Object v = config.get(key);
        if (v == null) {
            return def;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        String s = v.toString().trim();
        if (s.equalsIgnoreCase("true") || s.equalsIgnoreCase("false")) {
            return Boolean.parseBoolean(s);
        }
        throw new IllegalArgumentException("'" + key + "' = '" + v + "' is not true or false");
    }
}
