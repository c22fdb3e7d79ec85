package com.vhost.daemon.rpc;

/**
 * A JSON-RPC 2.0 error: the code and the message the client gets. The codes of the protocol are
 * constants here; operation failures use {@link #OPERATION_FAILED} and the codes below it.
 */
public final class RpcException extends Exception {
    private static final long serialVersionUID = 1L;

    /** The line is not JSON. */
    public static final int PARSE_ERROR = -32700;
    /** The JSON is not a request object (or the line is longer than {@link ControlServer#MAX_LINE_BYTES}). */
    public static final int INVALID_REQUEST = -32600;
    /** No method of that name. */
    public static final int METHOD_NOT_FOUND = -32601;
    /** A parameter is missing, of the wrong type or out of range; the message names it. */
    public static final int INVALID_PARAMS = -32602;
    /** The operation failed; the message names the cause. */
    public static final int OPERATION_FAILED = -32000;
    /** The device or served back-end named does not exist. */
    public static final int NOT_FOUND = -32001;
    /** A device or served back-end of that name exists already. */
    public static final int EXISTS = -32002;
    /** A vhost back-end or device refused or failed the operation (a {@code VhostException}). */
    public static final int BACKEND_FAILED = -32003;

    private final int code;

    /**
     * @param code the JSON-RPC error code
     * @param message what the client reads: names the parameter or the cause
     */
    public RpcException(int code, String message) {
        super(message);
        this.code = code;
    }

    /** @return the JSON-RPC error code */
    public int code() {
        return code;
    }
}
