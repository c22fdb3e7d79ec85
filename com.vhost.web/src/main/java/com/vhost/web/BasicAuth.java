package com.vhost.web;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Base64;

/**
 * The password check of every page of {@code vhost daemon --http} (HTTP Basic, RFC 7617): either
 * open (loopback without a password file) or one user name and password. Immutable, thread-safe.
 */
final class BasicAuth {
    /** The realm browsers show in their login prompt. */
    static final String REALM = "vhost daemon";

    private final String user;
    private final byte[] password;

    private BasicAuth(String user, byte[] password) {
        this.user = user;
        this.password = password;
    }

    /** @return a check that lets every request in (loopback, no password configured) */
    static BasicAuth open() {
        return new BasicAuth(null, null);
    }

    /**
     * @param user the user name (not empty, no ':')
     * @param password the password (not empty)
     * @throws IllegalArgumentException for an empty user or password or a user name with ':'
     */
    static BasicAuth of(String user, String password) {
        if (user == null || user.isEmpty() || user.contains(":")) {
            throw new IllegalArgumentException("HTTP user name '" + user + "': give one without ':'");
        }
        if (password == null || password.isEmpty()) {
            throw new IllegalArgumentException("the HTTP password is empty");
        }
        return new BasicAuth(user, password.getBytes(StandardCharsets.UTF_8));
    }

    /** @return whether requests need a password */
    boolean required() {
        return password != null;
    }

    /** @return the user name, or null when open */
    String user() {
        return user;
    }

    /**
     * @param authorization the request's {@code Authorization} header, or null
     * @return the authenticated user name ({@code anonymous} when open), or null when the header
     *     is missing, not Basic, malformed, or names another user or password
     */
    String authenticate(String authorization) {
        if (password == null) {
            return "anonymous";
        }
        if (authorization == null || !authorization.regionMatches(true, 0, "Basic ", 0, 6)) {
            return null;
        }
        String decoded;
        try {
            decoded = new String(Base64.getDecoder().decode(authorization.substring(6).trim()), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException notBase64) {
            return null;
        }
        int colon = decoded.indexOf(':');
        if (colon < 0) {
            return null;
        }
        boolean userOk = MessageDigest.isEqual(decoded.substring(0, colon).getBytes(StandardCharsets.UTF_8),
                user.getBytes(StandardCharsets.UTF_8));
        boolean passwordOk = MessageDigest.isEqual(decoded.substring(colon + 1).getBytes(StandardCharsets.UTF_8), password);
        return userOk && passwordOk ? user : null;
    }

    /** @return the {@code WWW-Authenticate} header value of a 401 answer */
    static String challenge() {
        return "Basic realm=\"" + REALM + "\", charset=\"UTF-8\"";
    }
}
