package com.vhost.web;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BasicAuthTest {
    static String basic(String userColonPassword) {
        return "Basic " + Base64.getEncoder().encodeToString(userColonPassword.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void withAPasswordOnlyThatUserAndPasswordGetIn() {
        BasicAuth a = BasicAuth.of("admin", "s3cret:x");
        assertThat(a.required()).isTrue();
        assertThat(a.authenticate(basic("admin:s3cret:x"))).isEqualTo("admin");
        assertThat(a.authenticate("basic " + basic("admin:s3cret:x").substring(6))).as("scheme is case-insensitive").isEqualTo("admin");
        assertThat(a.authenticate(basic("admin:s3cret"))).isNull();
        assertThat(a.authenticate(basic("root:s3cret:x"))).isNull();
        assertThat(a.authenticate(basic("admin"))).isNull();
        assertThat(a.authenticate("Basic !!!not-base64")).isNull();
        assertThat(a.authenticate("Bearer abc")).isNull();
        assertThat(a.authenticate(null)).isNull();
        assertThat(BasicAuth.challenge()).startsWith("Basic realm=\"vhost daemon\"");
    }

    @Test
    void openLetsEveryoneIn() {
        BasicAuth a = BasicAuth.open();
        assertThat(a.required()).isFalse();
        assertThat(a.authenticate(null)).isEqualTo("anonymous");
    }

    @Test
    void badUsersAndPasswordsAreRefused() {
        assertThatThrownBy(() -> BasicAuth.of("a:b", "p")).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("':'");
        assertThatThrownBy(() -> BasicAuth.of("", "p")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> BasicAuth.of("admin", "")).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("empty");
    }

    @Test
    void theComponentReadsThePasswordFilesFirstLine(@TempDir Path dir) throws Exception {
        Path pw = Files.writeString(dir.resolve("pw"), "hunter2\nignored\n");
        BasicAuth a = WebComponent.auth(Map.of(WebComponent.PASSWORD_FILE, pw.toString(), WebComponent.USER, "ops"));
        assertThat(a.authenticate(basic("ops:hunter2"))).isEqualTo("ops");
        assertThat(WebComponent.auth(Map.of(WebComponent.PASSWORD_FILE, pw.toString())).user()).isEqualTo("admin");
        assertThat(WebComponent.auth(Map.of()).required()).isFalse();
        Path empty = Files.writeString(dir.resolve("empty"), "");
        assertThatThrownBy(() -> WebComponent.auth(Map.of(WebComponent.PASSWORD_FILE, empty.toString()))).hasMessageContaining("is empty");
    }
}
