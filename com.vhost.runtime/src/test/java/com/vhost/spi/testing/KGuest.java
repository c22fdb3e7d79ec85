package com.vhost.spi.testing;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Preconditions of the tests that need the real Linux drivers, which run inside the kernel test
 * guest ({@code scripts/kguest/kguest-test.sh}). Elsewhere a missing device node skips the test;
 * inside the guest of a CI run ({@code CI=true} and {@code KGUEST=1}) it fails it.
 */
public final class KGuest {
    private KGuest() {}

    /** @return true inside the kernel test guest of a CI run, where nothing may be skipped */
    public static boolean mandatory() {
        return "true".equals(System.getenv("CI")) && "1".equals(System.getenv("KGUEST"));
    }

    /** Skips (or, when {@link #mandatory()}, fails) unless every path exists. */
    public static void require(String why, String... paths) {
        for (String p : paths) {
            if (!Files.exists(Path.of(p))) {
                String msg = p + " does not exist (" + why + "); run scripts/kguest/kguest-test.sh to test against the real driver";
                if (mandatory()) {
                    fail(msg);
                }
                assumeTrue(false, msg);
            }
        }
    }
}
