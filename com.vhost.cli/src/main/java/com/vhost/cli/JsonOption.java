package com.vhost.cli;

import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * {@code --json} (a picocli mixin), as fio's {@code --output-format=json}: the command prints one
 * JSON document on standard output instead of its text report; the lines it prints on the way
 * (the job header, progress, reconnects) go to standard error. The documents are written by
 * {@link MiniJson}; keys are snake_case and carry their unit ({@code _ns}, {@code _bytes},
 * {@code _s}) unless they are counts.
 */
final class JsonOption {
    @Option(names = "--json",
            description = "print one JSON document on standard output instead of the text report (lines printed on the way go to standard error)")
    boolean json;

    /** @return where the lines other than the result go: standard error with {@code --json}, else standard output */
    PrintWriter notes(CliServices services) {
        return json ? services.err() : services.out();
    }

    /** Prints {@code doc} as one JSON document and a newline, and flushes. */
    static void print(PrintWriter out, Map<String, ?> doc) {
        out.println(MiniJson.print(doc));
        out.flush();
    }

    /**
     * @return count, mean, p50, p90, p99, p99.9 and max of {@code h} in nanoseconds (keys
     *     {@code count}, {@code mean_ns}, {@code p50_ns}, ...)
     */
    static Map<String, Object> latency(LatencyHistogram h) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("count", h.count());
        m.put("mean_ns", Math.round(h.mean()));
        m.put("p50_ns", h.percentile(0.50));
        m.put("p90_ns", h.percentile(0.90));
        m.put("p99_ns", h.percentile(0.99));
        m.put("p99_9_ns", h.percentile(0.999));
        m.put("max_ns", h.max());
        return m;
    }

    /** @return {@code x} rounded to {@code digits} decimals, for rates printed in JSON */
    static double round(double x, int digits) {
        double f = Math.pow(10, digits);
        return Math.round(x * f) / f;
    }
}
