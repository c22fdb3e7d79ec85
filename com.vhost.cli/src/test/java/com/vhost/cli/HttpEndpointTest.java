package com.vhost.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HttpEndpointTest {
    private final FakeServices services = new FakeServices();

    @Test
    void loopbackNeedsNoPasswordFile() {
        HttpEndpoint e = HttpEndpoint.parse("127.0.0.1:8080", null);
        assertThat(e).isEqualTo(new HttpEndpoint("127.0.0.1", 8080, true));
        assertThat(HttpEndpoint.parse("[::1]:0", null)).isEqualTo(new HttpEndpoint("::1", 0, true));
        assertThat(HttpEndpoint.parse("[::1]:0", null).url(9000)).isEqualTo("http://[::1]:9000");
        assertThat(HttpEndpoint.parse("localhost:1", null).loopback()).isTrue();
    }

    @Test
    void anyOtherAddressNeedsAPasswordFile(@TempDir Path dir) throws Exception {
        assertThatThrownBy(() -> HttpEndpoint.parse("0.0.0.0:8080", null)).isInstanceOf(UsageException.class)
                .hasMessageContaining("not a loopback address").hasMessageContaining("--http-password-file");
        Path empty = Files.writeString(dir.resolve("empty"), "\n");
        assertThatThrownBy(() -> HttpEndpoint.parse("0.0.0.0:8080", empty)).hasMessageContaining("is empty");
        assertThatThrownBy(() -> HttpEndpoint.parse("0.0.0.0:8080", dir.resolve("none"))).hasMessageContaining("cannot read it");
        Path pw = Files.writeString(dir.resolve("pw"), "s3cret\n");
        assertThat(HttpEndpoint.parse("0.0.0.0:8080", pw).loopback()).isFalse();
        assertThat(HttpEndpoint.readPassword(pw)).isEqualTo("s3cret");
    }

    @Test
    void badEndpointsAreUsageErrors() {
        assertThatThrownBy(() -> HttpEndpoint.parse("8080", null)).hasMessageContaining("give HOST:PORT");
        assertThatThrownBy(() -> HttpEndpoint.parse("127.0.0.1:", null)).hasMessageContaining("give HOST:PORT");
        assertThatThrownBy(() -> HttpEndpoint.parse("127.0.0.1:http", null)).hasMessageContaining("not a number");
        assertThatThrownBy(() -> HttpEndpoint.parse("127.0.0.1:70000", null)).hasMessageContaining("outside 0..65535");
        assertThatThrownBy(() -> HttpEndpoint.parse("no-such-host.invalid:80", null)).hasMessageContaining("does not resolve");
    }

    @Test
    void theDaemonRefusesANonLoopbackAddressWithoutAPasswordBeforeStarting() {
        assertThat(VhostCli.execute(services, "daemon", "--http", "0.0.0.0:8080")).isEqualTo(2);
        assertThat(services.errText.toString()).contains("not a loopback address", "--http-password-file");
        assertThat(services.watchedFolders).as("nothing started").isEmpty();
        assertThat(services.startLevels).isEmpty();
        assertThat(VhostCli.execute(services, "daemon", "--http-password-file", "/x")).isEqualTo(2);
        assertThat(services.errText.toString()).contains("--http-password-file needs --http HOST:PORT");
    }

    @Test
    void theEndpointPortIsReadFromTheHttpRuntime() {
        assertThat(DaemonWeb.actualPort(new String[] {"http://127.0.0.1:41234/"}, 0)).isEqualTo(41234);
        assertThat(DaemonWeb.actualPort(java.util.List.of("http://[::1]:8081/"), 0)).isEqualTo(8081);
        assertThat(DaemonWeb.actualPort(null, 77)).isEqualTo(77);
    }

    @Test
    void theWebJarIsFoundBesideVhostJarOrWhereThePropertySays(@TempDir Path dir) throws Exception {
        String saved = System.getProperty(EmbeddedBundles.WEB_JAR_PROPERTY);
        try {
            Path web = Files.writeString(dir.resolve("web.jar"), "");
            System.setProperty(EmbeddedBundles.WEB_JAR_PROPERTY, web.toString());
            assertThat(EmbeddedBundles.webJar()).isEqualTo(web);
            System.setProperty(EmbeddedBundles.WEB_JAR_PROPERTY, dir.resolve("none.jar").toString());
            assertThatThrownBy(EmbeddedBundles::webJar).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("none.jar is missing").hasMessageContaining("web.bndrun");
        } finally {
            if (saved == null) {
                System.clearProperty(EmbeddedBundles.WEB_JAR_PROPERTY);
            } else {
                System.setProperty(EmbeddedBundles.WEB_JAR_PROPERTY, saved);
            }
        }
    }

    @Test
    void aPortInUseIsNamedBeforeJettyTriesIt() throws Exception {
        try (java.net.ServerSocket taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            HttpEndpoint e = HttpEndpoint.parse("127.0.0.1:" + taken.getLocalPort(), null);
            assertThatThrownBy(e::checkFree).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("127.0.0.1:" + taken.getLocalPort()).hasMessageContaining("another server");
        }
        HttpEndpoint.parse("127.0.0.1:0", null).checkFree();
    }

    @Test
    void theDaemonStopsAtAPortInUseBeforeStartingAnything() throws Exception {
        try (java.net.ServerSocket taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            assertThat(VhostCli.execute(services, "daemon", "--http", "127.0.0.1:" + taken.getLocalPort())).isEqualTo(1);
        }
        assertThat(services.errText.toString()).contains("cannot listen there");
        assertThat(services.watchedFolders).as("no folder watched, no control socket").isEmpty();
    }
}
