package com.vhost.devices.net.driver;

import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;

/** MAC address helpers. */
public final class NetMacs {
    private NetMacs() {}

    /** @return "52:54:00:12:34:56" for 6 bytes */
    public static String format(byte[] mac) {
        return HexFormat.ofDelimiter(":").formatHex(mac);
    }

    /**
     * @param text six hex bytes separated by ':' or '-'
     * @return 6 bytes
     * @throws IllegalArgumentException naming the text when it is not a MAC address
     */
    public static byte[] parse(String text) {
        String[] parts = text.trim().split("[:-]");
        if (parts.length != 6) {
            throw new IllegalArgumentException("'" + text + "' is not a MAC address (6 hex bytes)");
        }
        byte[] mac = new byte[6];
        for (int i = 0; i < 6; i++) {
            try {
                int v = Integer.parseInt(parts[i], 16);
                if (v < 0 || v > 255 || parts[i].isEmpty() || parts[i].length() > 2) {
                    throw new NumberFormatException();
                }
                mac[i] = (byte) v;
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("'" + text + "' is not a MAC address (byte " + i + ")");
            }
        }
        return mac;
    }

    /** @return a random unicast, locally administered address (first byte xxxxxx10) */
    public static byte[] randomLocal() {
        byte[] mac = new byte[6];
        ThreadLocalRandom.current().nextBytes(mac);
        mac[0] = (byte) ((mac[0] & 0xFC) | 0x02);
        return mac;
    }
}
