package com.vhost.integration;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A strict reader of the Prometheus text exposition format 0.0.4 for the tests: every line is a
 * {@code # HELP}, a {@code # TYPE} (counter, gauge, histogram, summary, untyped; at most once per
 * family, before its samples) or a sample {@code name{label="value",...} value [timestamp]} whose
 * family was typed; label values unescaped; values are floats or {@code +Inf}/{@code -Inf}/{@code NaN}.
 */
final class PrometheusText {
    private static final Pattern NAME = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");
    private static final Pattern SAMPLE = Pattern.compile("([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{(.*)\\})? (\\S+)( -?\\d+)?");
    private static final Pattern LABEL = Pattern.compile("\\s*([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\[\\\\\"n])*)\"\\s*(,|$)");

    /** Samples by {@code name{l1="v1",l2="v2"}} (labels in exposition order), and each family's type. */
    final Map<String, Double> samples = new LinkedHashMap<>();
    final Map<String, String> types = new HashMap<>();

    private PrometheusText() {}

    /** @throws IllegalArgumentException naming the line that breaks the format */
    static PrometheusText parse(String text) {
        PrometheusText p = new PrometheusText();
        int n = 0;
        for (String line : text.split("\n", -1)) {
            n++;
            if (line.isEmpty()) {
                continue;
            }
            if (line.startsWith("# TYPE ")) {
                String[] f = line.substring(7).split(" ");
                require(f.length == 2 && NAME.matcher(f[0]).matches(), n, line, "a TYPE line is '# TYPE name type'");
                require(f[1].matches("counter|gauge|histogram|summary|untyped"), n, line, "unknown type " + f[1]);
                require(p.types.put(f[0], f[1]) == null, n, line, "family typed twice");
            } else if (line.startsWith("# HELP ")) {
                require(NAME.matcher(line.substring(7).split(" ", 2)[0]).matches(), n, line, "a HELP line names a metric");
            } else if (line.startsWith("#")) {
                continue; // other comments are allowed
            } else {
                Matcher m = SAMPLE.matcher(line);
                require(m.matches(), n, line, "not a sample line");
                String name = m.group(1);
                require(p.family(name) != null, n, line, "sample of a family with no TYPE before it");
                StringBuilder key = new StringBuilder(name);
                if (m.group(3) != null && !m.group(3).isEmpty()) {
                    key.append('{');
                    Matcher l = LABEL.matcher(m.group(3));
                    int at = 0;
                    while (at < m.group(3).length()) {
                        require(l.find(at) && l.start() == at, n, line, "bad label list");
                        key.append(key.charAt(key.length() - 1) == '{' ? "" : ",").append(l.group(1)).append("=\"")
                                .append(l.group(2).replace("\\\"", "\"").replace("\\n", "\n").replace("\\\\", "\\")).append('"');
                        at = l.end();
                    }
                    key.append('}');
                }
                double v;
                try {
                    v = switch (m.group(4)) {
                        case "+Inf" -> Double.POSITIVE_INFINITY;
                        case "-Inf" -> Double.NEGATIVE_INFINITY;
                        case "NaN" -> Double.NaN;
                        default -> Double.parseDouble(m.group(4));
                    };
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("line " + n + " '" + line + "': value is not a number");
                }
                require(p.samples.put(key.toString(), v) == null, n, line, "duplicate sample");
            }
        }
        return p;
    }

    /** @return the typed family a sample name belongs to (itself, or without _total/_bucket/_count/_sum/_max), or null */
    String family(String sample) {
        if (types.containsKey(sample)) {
            return sample;
        }
        for (String suffix : new String[] {"_total", "_bucket", "_count", "_sum", "_created"}) {
            if (sample.endsWith(suffix) && types.containsKey(sample.substring(0, sample.length() - suffix.length()))) {
                return sample.substring(0, sample.length() - suffix.length());
            }
        }
        return null;
    }

    /** @return the sample's value; fails when absent */
    double value(String key) {
        Double v = samples.get(key);
        if (v == null) {
            throw new AssertionError("no sample " + key + " among " + samples.keySet());
        }
        return v;
    }

    private static void require(boolean ok, int n, String line, String why) {
        if (!ok) {
            throw new IllegalArgumentException("line " + n + " '" + line + "': " + why);
        }
    }
}
