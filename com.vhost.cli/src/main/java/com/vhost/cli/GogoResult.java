package com.vhost.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.function.Consumer;

/**
 * What a Gogo command of this bundle returns: the text the console prints (Gogo prints a
 * {@link CharSequence} result as it is) and the value a script works with, e.g.
 * {@code each ((vhost:devices) value) { $it id }} or {@code $r = vhost:swap disk0 b.sock}.
 *
 * @param <T> the value's type
 */
public final class GogoResult<T> implements CharSequence {
    private final String text;
    private final T value;

    private GogoResult(String text, T value) {
        this.text = text;
        this.value = value;
    }

    /** @return {@code value} shown as what {@code print} writes (a trailing newline dropped) */
    static <T> GogoResult<T> of(T value, Consumer<PrintWriter> print) {
        StringWriter sw = new StringWriter();
        try (PrintWriter w = new PrintWriter(sw)) {
            print.accept(w);
        }
        return new GogoResult<>(sw.toString().stripTrailing(), value);
    }

    /** @return the value for scripts (a list of rows, a counter map, the registry's answer) */
    public T value() {
        return value;
    }

    @Override
    public int length() {
        return text.length();
    }

    @Override
    public char charAt(int index) {
        return text.charAt(index);
    }

    @Override
    public CharSequence subSequence(int start, int end) {
        return text.subSequence(start, end);
    }

    @Override
    public String toString() {
        return text;
    }
}
