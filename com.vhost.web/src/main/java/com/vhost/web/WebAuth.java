package com.vhost.web;

import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import org.apache.felix.webconsole.spi.SecurityProvider;
import org.osgi.service.servlet.whiteboard.Preprocessor;

/**
 * {@link BasicAuth} in front of every page: as a servlet whiteboard {@link Preprocessor} (all
 * paths: {@code /metrics}, {@code /system/health}, the console) and as the web console's
 * {@link SecurityProvider} (named {@value #PROVIDER_ID}), which replaces the console's built-in
 * admin/admin. A request without the right credentials gets 401 with a Basic challenge.
 */
final class WebAuth implements Preprocessor, SecurityProvider {
    /** The {@code webconsole.security.provider.id} of this provider; the daemon requires it. */
    static final String PROVIDER_ID = "vhost";

    private final BasicAuth auth;

    WebAuth(BasicAuth auth) {
        this.auth = auth;
    }

    @Override
    public void doFilter(ServletRequest request, ServletResponse response, FilterChain chain) throws IOException, ServletException {
        if (request instanceof HttpServletRequest req && response instanceof HttpServletResponse res
                && auth.authenticate(req.getHeader("Authorization")) == null) {
            deny(res);
            return;
        }
        chain.doFilter(request, response);
    }

    @Override
    public Object authenticate(HttpServletRequest request, HttpServletResponse response) {
        String user = auth.authenticate(request.getHeader("Authorization"));
        if (user == null) {
            try {
                deny(response);
            } catch (IOException e) {
                // the client left; nothing to answer
            }
        }
        return user;
    }

    @Override
    public boolean authorize(Object user, String role) {
        return user != null;
    }

    @Override
    public void logout(HttpServletRequest request, HttpServletResponse response) {
        // Basic authentication has no session to end: the browser forgets on its own.
    }

    private static void deny(HttpServletResponse res) throws IOException {
        res.setHeader("WWW-Authenticate", BasicAuth.challenge());
        res.sendError(HttpServletResponse.SC_UNAUTHORIZED, "this vhost daemon needs a user name and password");
    }
}
