package com.vhost.integration;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Records the platform's log lines while open. Inside the container SLF4J logs through
 * slf4j-simple to {@code System.out}, looked up on every line ({@code
 * org.slf4j.simpleLogger.cacheOutputStream=false}, {@link PlatformOptions}); this replaces
 * {@code System.out} by a tee that still writes everything to the previous stream (so the lines
 * stay in the test output) and keeps each complete line. {@link #close()} puts the previous stream
 * back. One capture at a time (System.out is global to the JVM).
 */
final class LogCapture implements AutoCloseable {
    private final PrintStream previous;
    private final List<String> lines = new CopyOnWriteArrayList<>();

    private LogCapture() {
        previous = System.out;
        System.setOut(new PrintStream(new Tee(previous), true, StandardCharsets.UTF_8));
    }

    /** @return a capture that records from now until {@link #close()} */
    static LogCapture start() {
        return new LogCapture();
    }

    /** @return the complete lines recorded so far, oldest first */
    List<String> lines() {
        return List.copyOf(lines);
    }

    /**
     * Waits (bounded) for a recorded line in which {@code pattern} is found.
     *
     * @return the match on the first such line, or null when none came within {@code timeoutMs}
     */
    Matcher await(Pattern pattern, long timeoutMs) throws InterruptedException {
        return Await.until(timeoutMs, () -> {
            for (String l : lines) {
                Matcher m = pattern.matcher(l);
                if (m.find()) {
                    return m;
                }
            }
            return null;
        });
    }

    @Override
    public void close() {
        System.out.flush();
        System.setOut(previous);
    }

    /** Passes bytes through and cuts them into lines at '\n'. */
    private final class Tee extends OutputStream {
        private final PrintStream out;
        private final ByteArrayOutputStream line = new ByteArrayOutputStream(256);

        Tee(PrintStream out) {
            this.out = out;
        }

        @Override
        public synchronized void write(int b) {
            out.write(b);
            take(b);
        }

        @Override
        public synchronized void write(byte[] b, int off, int len) {
            out.write(b, off, len);
            for (int i = off; i < off + len; i++) {
                take(b[i]);
            }
        }

        private void take(int b) {
            if (b == '\n') {
                lines.add(line.toString(StandardCharsets.UTF_8).stripTrailing());
                line.reset();
            } else {
                line.write(b);
            }
        }

        @Override
        public void flush() {
            out.flush();
        }
    }
}
