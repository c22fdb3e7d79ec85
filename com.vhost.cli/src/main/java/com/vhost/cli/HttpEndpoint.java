package com.vhost.cli;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.io.IOException;
import java.util.List;

/**
 * The {@code --http HOST:PORT} of {@code vhost daemon}, checked: a host name or address
 * ({@code [v6]} in brackets) and a port 0..65535 (0: any free port). Every address the host
 * resolves to must be a loopback address unless a password file is given: the web console has no
 * default password, and on other addresses it is never open.
 *
 * @param host the host as given (brackets removed)
 * @param port the TCP port, 0 for any
 * @param loopback whether every address of {@code host} is a loopback address
 */
record HttpEndpoint(String host, int port, boolean loopback) {
    /**
     * @param hostPort {@code HOST:PORT}
     * @param passwordFile the {@code --http-password-file}, or null
     * @throws UsageException naming the option: no port, a port out of range, a host that does
     *     not resolve, a non-loopback host without a password file, a password file that cannot
     *     be read or whose first line is empty
     */
    static HttpEndpoint parse(String hostPort, Path passwordFile) {
        int colon = hostPort.lastIndexOf(':');
        if (colon <= 0 || colon == hostPort.length() - 1) {
            throw new UsageException("--http " + hostPort + ": give HOST:PORT, e.g. 127.0.0.1:8080");
        }
        String host = hostPort.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        int port;
        try {
            port = Integer.parseInt(hostPort.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new UsageException("--http " + hostPort + ": the port '" + hostPort.substring(colon + 1) + "' is not a number");
        }
        if (port < 0 || port > 65535) {
            throw new UsageException("--http " + hostPort + ": the port " + port + " is outside 0..65535");
        }
        boolean loopback = true;
        try {
            for (InetAddress a : InetAddress.getAllByName(host)) {
                loopback &= a.isLoopbackAddress();
            }
        } catch (UnknownHostException e) {
            throw new UsageException("--http " + hostPort + ": host '" + host + "' does not resolve");
        }
        if (!loopback && passwordFile == null) {
            throw new UsageException("--http " + hostPort + ": '" + host + "' is not a loopback address, and the web console has no "
                    + "default password: give --http-password-file FILE (its first line is the password)");
        }
        if (passwordFile != null) {
            readPassword(passwordFile);
        }
        return new HttpEndpoint(host, port, loopback);
    }

    /**
     * @return the first line of {@code file}
     * @throws UsageException when it cannot be read or its first line is empty
     */
    static String readPassword(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UsageException("--http-password-file " + file + ": cannot read it (" + e.getMessage() + ")");
        }
        if (lines.isEmpty() || lines.get(0).isEmpty()) {
            throw new UsageException("--http-password-file " + file + ": the first line (the password) is empty");
        }
        return lines.get(0);
    }

    /**
     * Checks that the port can be bound now (Jetty binds it moments later; without this a port in
     * use would show only as Jetty not starting within the wait).
     *
     * @throws IllegalStateException naming HOST:PORT when it cannot be bound
     */
    void checkFree() {
        if (port == 0) {
            return;
        }
        try (java.net.ServerSocket s = new java.net.ServerSocket()) {
            s.setReuseAddress(true);
            s.bind(new java.net.InetSocketAddress(host, port));
        } catch (IOException e) {
            throw new IllegalStateException("--http " + host + ":" + port + ": cannot listen there (" + e.getMessage()
                    + "): is another server using the port?");
        }
    }

    /** @return the base URL, {@code http://host:port} (an IPv6 address in brackets) */
    String url(int actualPort) {
        return "http://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + actualPort;
    }
}
