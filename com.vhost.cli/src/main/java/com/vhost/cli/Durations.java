package com.vhost.cli;

import java.math.BigDecimal;
import java.time.Duration;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Durations on the command line: a non-negative decimal number with an optional unit, {@code ns},
 * {@code us}, {@code ms}, {@code s}, {@code m} (minutes) or {@code h}: {@code 30}, {@code 1.5},
 * {@code 500ms}, {@code 5s}, {@code 2m}. A number alone is in the option's default unit, seconds
 * for every option except the hidden {@code -ms} aliases kept for old scripts. Free of picocli, so
 * that {@code vhost rpc} (which runs without it) parses its {@code --timeout} the same way.
 */
final class Durations {
    private Durations() {}

    private static final Pattern DURATION = Pattern.compile("(\\d+(?:\\.\\d+)?|\\.\\d+)\\s*(ns|us|µs|ms|s|sec|m|min|h)?");

    /**
     * @param text the option's value
     * @param millisDefault whether a number without a unit is milliseconds (else seconds)
     * @return the duration, rounded down to whole nanoseconds
     * @throws IllegalArgumentException naming the text when it does not parse or exceeds 100 days
     */
    static Duration parse(String text, boolean millisDefault) {
        Matcher m = DURATION.matcher(text == null ? "" : text.trim().toLowerCase(Locale.ROOT));
        if (!m.matches()) {
            throw new IllegalArgumentException("'" + text + "' is not a duration (examples: 30, 1.5, 500ms, 5s, 2m, 1h;"
                    + " a number alone is " + (millisDefault ? "milliseconds" : "seconds") + ")");
        }
        String unit = m.group(2) == null ? (millisDefault ? "ms" : "s") : m.group(2);
        long nanosPerUnit = switch (unit) {
            case "ns" -> 1L;
            case "us", "µs" -> 1_000L;
            case "ms" -> 1_000_000L;
            case "m", "min" -> 60_000_000_000L;
            case "h" -> 3_600_000_000_000L;
            default -> 1_000_000_000L;
        };
        BigDecimal nanos = new BigDecimal(m.group(1)).multiply(BigDecimal.valueOf(nanosPerUnit));
        if (nanos.compareTo(BigDecimal.valueOf(MAX.toNanos())) > 0) {
            throw new IllegalArgumentException("'" + text + "' is longer than 100 days");
        }
        return Duration.ofNanos(nanos.longValue());
    }

    /** The longest duration accepted. */
    static final Duration MAX = Duration.ofDays(100);

    /** @return {@code d} for humans: {@code "5 s"}, {@code "1.5 s"}, {@code "500 ms"}, {@code "20 us"} */
    static String human(Duration d) {
        long n = d.toNanos();
        if (n >= 1_000_000_000L) {
            return trim(n / 1e9) + " s";
        }
        if (n >= 1_000_000L) {
            return trim(n / 1e6) + " ms";
        }
        return trim(n / 1e3) + " us";
    }

    private static String trim(double v) {
        String s = String.format(Locale.ROOT, "%.3f", v);
        s = s.replaceAll("0+$", "");
        return s.endsWith(".") ? s.substring(0, s.length() - 1) : s;
    }
}
