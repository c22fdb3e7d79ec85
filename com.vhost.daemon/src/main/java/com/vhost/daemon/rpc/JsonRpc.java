package com.vhost.daemon.rpc;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.vhost.api.VhostException;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * JSON-RPC 2.0 (https://www.jsonrpc.org/specification) over one line: {@link #handle} takes a
 * request object and returns the response object, both as single-line JSON text. Named
 * parameters only; a batch (array) is refused as {@link RpcException#INVALID_REQUEST}, since the
 * control socket carries one request per line. A notification (no {@code id}) runs and gets no
 * response. Thread-safe: any number of client threads call it at once.
 */
public final class JsonRpc {
    private static final Logger LOG = LoggerFactory.getLogger(JsonRpc.class);
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    /** One method: named parameters in, a result value out. */
    @FunctionalInterface
    public interface Method {
        /**
         * @return the result: a {@link JsonNode}, or a map, list, string, number, boolean or null that
         *     Jackson converts
         * @throws RpcException with the error code the client gets
         * @throws Exception any other failure becomes {@link RpcException#OPERATION_FAILED}
         *     ({@link VhostException}: {@link RpcException#BACKEND_FAILED}) with its message
         */
        Object call(Params params) throws Exception;
    }

    private final ObjectMapper mapper = JsonMapper.builder().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS).build();
    private final Map<String, Method> methods;

    /** @param methods by name; the map is copied */
    public JsonRpc(Map<String, Method> methods) {
        this.methods = Map.copyOf(methods);
    }

    /** @return the Jackson mapper results are converted with */
    public ObjectMapper mapper() {
        return mapper;
    }

    /**
     * Runs one request.
     *
     * @param line one JSON text (without its newline)
     * @return the response as one line of JSON (no newline), or null for a notification
     */
    public String handle(String line) {
        JsonNode request;
        try {
            request = mapper.readTree(line);
        } catch (JacksonException e) {
            return error(null, RpcException.PARSE_ERROR, "parse error: " + e.getOriginalMessage());
        }
        if (request == null || request.isMissingNode()) {
            return error(null, RpcException.PARSE_ERROR, "parse error: empty line");
        }
        if (request.isArray()) {
            return error(null, RpcException.INVALID_REQUEST, "invalid request: batches are not supported, send one request object per line");
        }
        if (!request.isObject()) {
            return error(null, RpcException.INVALID_REQUEST, "invalid request: not a JSON object");
        }
        JsonNode id = request.get("id");
        boolean notification = id == null;
        if (id != null && !id.isTextual() && !id.isNumber() && !id.isNull()) {
            return error(null, RpcException.INVALID_REQUEST, "invalid request: 'id' must be a string, a number or null");
        }
        JsonNode version = request.get("jsonrpc");
        if (version == null || !"2.0".equals(version.asText(null)) || !version.isTextual()) {
            return error(id, RpcException.INVALID_REQUEST, "invalid request: 'jsonrpc' must be \"2.0\"");
        }
        JsonNode name = request.get("method");
        if (name == null || !name.isTextual()) {
            return error(id, RpcException.INVALID_REQUEST, "invalid request: 'method' must be a string");
        }
        JsonNode params = request.get("params");
        if (params != null && !params.isObject() && !params.isNull()) {
            return error(id, RpcException.INVALID_PARAMS, name.asText() + ": 'params' must be an object (named parameters)");
        }
        Method method = methods.get(name.asText());
        if (method == null) {
            return notification ? null : error(id, RpcException.METHOD_NOT_FOUND, "method not found: '" + name.asText() + "'");
        }
        String response;
        try {
            Object result = method.call(new Params(name.asText(), params == null || params.isNull() ? NODES.objectNode() : (ObjectNode) params));
            ObjectNode r = envelope(id);
            r.set("result", result instanceof JsonNode j ? j : mapper.valueToTree(result));
            response = mapper.writeValueAsString(r);
        } catch (RpcException e) {
            response = error(id, e.code(), e.getMessage());
        } catch (VhostException e) {
            response = error(id, RpcException.BACKEND_FAILED, name.asText() + ": " + message(e));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            response = error(id, RpcException.OPERATION_FAILED, name.asText() + ": interrupted (the daemon is stopping)");
        } catch (Exception | LinkageError | AssertionError e) {
            if (!(e instanceof IllegalArgumentException) && !(e instanceof IllegalStateException)) {
                LOG.warn("control method {} failed", name.asText(), e);
            }
            response = error(id, RpcException.OPERATION_FAILED, name.asText() + ": " + message(e));
        }
        return notification ? null : response;
    }

    private static String message(Throwable t) {
        String m = t.getMessage();
        return m == null || m.isBlank() ? t.toString() : m;
    }

    private static ObjectNode envelope(JsonNode id) {
        ObjectNode r = NODES.objectNode();
        r.put("jsonrpc", "2.0");
        r.set("id", id == null ? NODES.nullNode() : id);
        return r;
    }

    /**
     * @param id the request's id, or null when it could not be read
     * @return a JSON-RPC error response as one line
     */
    public String error(JsonNode id, int code, String message) {
        ObjectNode r = envelope(id);
        ObjectNode e = r.putObject("error");
        e.put("code", code);
        e.put("message", message);
        try {
            return mapper.writeValueAsString(r);
        } catch (JacksonException impossible) {
            throw new IllegalStateException(impossible);
        }
    }
}
