package com.vhost.daemon.rpc;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Iterator;
import java.util.Set;

/**
 * The named parameters of one request. Every accessor that finds a parameter missing, of the
 * wrong JSON type or out of range throws {@link RpcException#INVALID_PARAMS} naming it; so does
 * {@link #allowOnly} for a parameter the method does not know.
 */
public final class Params {
    private final String method;
    private final ObjectNode node;

    /** @param node the {@code params} object (empty when the request had none) */
    public Params(String method, ObjectNode node) {
        this.method = method;
        this.node = node;
    }

    /** @throws RpcException naming the first parameter not in {@code names} */
    public Params allowOnly(String... names) throws RpcException {
        Set<String> allowed = Set.of(names);
        for (Iterator<String> it = node.fieldNames(); it.hasNext();) {
            String n = it.next();
            if (!allowed.contains(n)) {
                throw invalid("unknown parameter '" + n + "' (" + method + " takes " + String.join(", ", names) + ")");
            }
        }
        return this;
    }

    /** @return whether the parameter is present and not null */
    public boolean has(String name) {
        JsonNode v = node.get(name);
        return v != null && !v.isNull();
    }

    /** @return the non-empty string parameter {@code name} @throws RpcException when missing or not a string */
    public String string(String name) throws RpcException {
        if (!has(name)) {
            throw invalid("missing parameter '" + name + "'");
        }
        return optString(name);
    }

    /** @return the string parameter, or null when absent @throws RpcException when not a non-empty string */
    public String optString(String name) throws RpcException {
        JsonNode v = node.get(name);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isTextual() || v.asText().isEmpty()) {
            throw invalid("parameter '" + name + "' must be a non-empty string");
        }
        return v.asText();
    }

    /**
     * @return the integer parameter, or {@code def} when absent
     * @throws RpcException when not an integer within {@code min..max}
     */
    public long integer(String name, long def, long min, long max) throws RpcException {
        JsonNode v = node.get(name);
        if (v == null || v.isNull()) {
            return def;
        }
        if (!v.isIntegralNumber() || !v.canConvertToLong()) {
            throw invalid("parameter '" + name + "' must be an integer");
        }
        long x = v.asLong();
        if (x < min || x > max) {
            throw invalid("parameter '" + name + "' is " + x + ", outside " + min + ".." + max);
        }
        return x;
    }

    /** @return the boolean parameter, or {@code def} when absent @throws RpcException when not a boolean */
    public boolean bool(String name, boolean def) throws RpcException {
        JsonNode v = node.get(name);
        if (v == null || v.isNull()) {
            return def;
        }
        if (!v.isBoolean()) {
            throw invalid("parameter '" + name + "' must be true or false");
        }
        return v.asBoolean();
    }

    /**
     * @return the string parameter, which must be one of {@code values}
     * @throws RpcException when missing or another value
     */
    public String oneOf(String name, String def, String... values) throws RpcException {
        String v = def == null ? string(name) : optString(name);
        if (v == null) {
            return def;
        }
        for (String ok : values) {
            if (ok.equals(v)) {
                return v;
            }
        }
        throw invalid("parameter '" + name + "' is '" + v + "', not one of " + String.join(", ", values));
    }

    /** @return an {@link RpcException#INVALID_PARAMS} error prefixed with the method */
    public RpcException invalid(String message) {
        return new RpcException(RpcException.INVALID_PARAMS, method + ": " + message);
    }
}
