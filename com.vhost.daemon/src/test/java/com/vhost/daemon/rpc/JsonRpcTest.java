package com.vhost.daemon.rpc;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.vhost.api.VhostNativeException;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Every JSON-RPC error code of the control socket, and the result envelope, without a socket. */
class JsonRpcTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    static JsonRpc rpc() {
        return new JsonRpc(Map.of(
                "echo", p -> {
                    p.allowOnly("text", "times");
                    return Map.of("text", p.string("text"), "times", p.integer("times", 1, 1, 10));
                },
                "missing", p -> {
                    throw new RpcException(RpcException.NOT_FOUND, "no device 'x'");
                },
                "broken", p -> {
                    throw new IllegalStateException("the image is gone");
                },
                "native", p -> {
                    throw new VhostNativeException("bind(/x)", 98, "socket /x is in use by another server");
                }));
    }

    static JsonNode call(JsonRpc rpc, String line) throws Exception {
        String r = rpc.handle(line);
        assertThat(r).doesNotContain("\n");
        JsonNode n = JSON.readTree(r);
        assertThat(n.get("jsonrpc").asText()).isEqualTo("2.0");
        return n;
    }

    static void assertError(JsonNode n, int code, String... inMessage) {
        assertThat(n.has("result")).as(n.toString()).isFalse();
        assertThat(n.get("error").get("code").asInt()).as(n.toString()).isEqualTo(code);
        assertThat(n.get("error").get("message").asText()).contains(inMessage);
    }

    @Test
    void aResultCarriesTheIdAndTheValue() throws Exception {
        JsonNode n = call(rpc(), "{\"jsonrpc\":\"2.0\",\"id\":\"a-7\",\"method\":\"echo\",\"params\":{\"text\":\"hi\",\"times\":3}}");
        assertThat(n.get("id").asText()).isEqualTo("a-7");
        assertThat(n.get("result").get("text").asText()).isEqualTo("hi");
        assertThat(n.get("result").get("times").asInt()).isEqualTo(3);
        assertThat(call(rpc(), "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"echo\",\"params\":{\"text\":\"x\"}}").get("id").asInt())
                .isEqualTo(5);
    }

    @Test
    void parseErrors() throws Exception {
        assertError(call(rpc(), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\""), RpcException.PARSE_ERROR, "parse error");
        assertError(call(rpc(), "\u0001\u0002garbage"), RpcException.PARSE_ERROR, "parse error");
        assertError(call(rpc(), "{} {}"), RpcException.PARSE_ERROR, "parse error");
        assertThat(call(rpc(), "not json").get("id").isNull()).isTrue();
    }

    @Test
    void invalidRequests() throws Exception {
        assertError(call(rpc(), "[1,2]"), RpcException.INVALID_REQUEST, "batches are not supported");
        assertError(call(rpc(), "42"), RpcException.INVALID_REQUEST, "not a JSON object");
        assertError(call(rpc(), "{\"id\":1,\"method\":\"echo\"}"), RpcException.INVALID_REQUEST, "'jsonrpc' must be \"2.0\"");
        assertError(call(rpc(), "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"echo\"}"), RpcException.INVALID_REQUEST, "jsonrpc");
        assertError(call(rpc(), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}"), RpcException.INVALID_REQUEST, "'method' must be a string");
        assertError(call(rpc(), "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"echo\"}"), RpcException.INVALID_REQUEST, "'id'");
    }

    @Test
    void unknownMethod() throws Exception {
        JsonNode n = call(rpc(), "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"device_frobnicate\"}");
        assertError(n, RpcException.METHOD_NOT_FOUND, "device_frobnicate");
        assertThat(n.get("id").asInt()).isEqualTo(2);
    }

    @Test
    void invalidParamsNameTheParameter() throws Exception {
        assertError(call(rpc(), "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\"}"), RpcException.INVALID_PARAMS, "missing parameter 'text'");
        assertError(call(rpc(), "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\",\"params\":{\"text\":5}}"), RpcException.INVALID_PARAMS,
                "parameter 'text' must be a non-empty string");
        assertError(call(rpc(), "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\",\"params\":{\"text\":\"a\",\"times\":11}}"),
                RpcException.INVALID_PARAMS, "parameter 'times' is 11, outside 1..10");
        assertError(call(rpc(), "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\",\"params\":{\"text\":\"a\",\"colour\":1}}"),
                RpcException.INVALID_PARAMS, "unknown parameter 'colour'");
        assertError(call(rpc(), "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\",\"params\":[\"a\"]}"), RpcException.INVALID_PARAMS,
                "'params' must be an object");
    }

    @Test
    void operationFailuresNameTheCause() throws Exception {
        assertError(call(rpc(), "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"missing\"}"), RpcException.NOT_FOUND, "no device 'x'");
        assertError(call(rpc(), "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"broken\"}"), RpcException.OPERATION_FAILED,
                "broken: the image is gone");
        assertError(call(rpc(), "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"native\"}"), RpcException.BACKEND_FAILED,
                "in use by another server");
    }

    @Test
    void aNotificationGetsNoResponse() {
        assertThat(rpc().handle("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"text\":\"a\"}}")).isNull();
        assertThat(rpc().handle("{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}")).isNull();
    }
}
