package com.vhost.cli;

import java.time.Duration;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * picocli converter for {@link Durations#parse}: {@code 30}, {@code 500ms}, {@code 5s},
 * {@code 2m}; a number alone is seconds. {@link Millis} reads a number alone as milliseconds, for
 * the hidden {@code --...-ms} aliases that old scripts use.
 */
public final class DurationConverter implements ITypeConverter<Duration> {
    @Override
    public Duration convert(String value) {
        return convert(value, false);
    }

    static Duration convert(String value, boolean millisDefault) {
        try {
            return Durations.parse(value, millisDefault);
        } catch (IllegalArgumentException e) {
            throw new TypeConversionException(e.getMessage());
        }
    }

    /** As {@link DurationConverter}, a number alone being milliseconds. */
    public static final class Millis implements ITypeConverter<Duration> {
        @Override
        public Duration convert(String value) {
            return DurationConverter.convert(value, true);
        }
    }
}
