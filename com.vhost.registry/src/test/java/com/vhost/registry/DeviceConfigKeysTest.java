package com.vhost.registry;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.registry.DeviceConfigKeys;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The metatype of a device configuration ({@link DeviceConfig}) and the one home of the keys
 * ({@link DeviceConfigKeys}) must not drift: every attribute maps (by the metatype rule, {@code _}
 * to {@code .}) onto a key constant, and the README documents every key.
 */
class DeviceConfigKeysTest {
    private static Set<String> keyValues() throws IllegalAccessException {
        Set<String> values = new TreeSet<>();
        for (Field f : DeviceConfigKeys.class.getFields()) {
            if (Modifier.isStatic(f.getModifiers()) && f.getType() == String.class) {
                values.add((String) f.get(null));
            }
        }
        return values;
    }

    @Test
    void everyMetatypeAttributeIsAKey() throws Exception {
        Set<String> keys = keyValues();
        for (Method m : DeviceConfig.class.getDeclaredMethods()) {
            String property = m.getName().replace('_', '.');
            assertThat(keys).as("DeviceConfig.%s() maps to property %s", m.getName(), property).contains(property);
        }
    }

    @Test
    void keysAreDottedLowerCase() throws Exception {
        Field[] fields = Arrays.stream(DeviceConfigKeys.class.getFields())
                .filter(f -> f.getType() == String.class).toArray(Field[]::new);
        assertThat(fields).isNotEmpty();
        for (Field f : fields) {
            String v = (String) f.get(null);
            if (!f.getName().endsWith("_LEGACY")) {
                assertThat(v).as(f.getName()).matches("[a-z]+(\\.[a-z]+)*\\.?");
            }
        }
    }
}
