package com.vhost.integration;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.File;
import java.io.RandomAccessFile;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.remote.RemoteWebDriver;
import org.openqa.selenium.support.ui.Select;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * {@code ./vhost daemon --http 127.0.0.1:PORT --http-password-file FILE}: serve two blk back-ends
 * on one image and create a device over the control socket; then {@code /metrics} parses as
 * Prometheus text with the device's and back-ends' series, {@code /system/health} is OK and names
 * the same checks as the {@code health} method, every page wants the password, a served back-end
 * deleted makes its device CRITICAL (HTTP 503, and the method agrees) and OK again once it is back,
 * as does a {@code vhost serve blk} process killed and started again;
 * headless chromium (Debian's, through its chromedriver) logs in, opens
 * {@code /system/console/vhost}, sees the device and swaps it from the form to the second back-end,
 * then sees the new back-end. A non-loopback {@code --http} without a password file is refused.
 * Every process is stopped by its PID within its time bound.
 */
@Timeout(180)
class DaemonWebTest {
    static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    static final String PASSWORD = "web-test-pw";

    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    String base;

    static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    HttpResponse<String> get(String path, boolean withPassword) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(10));
        if (withPassword) {
            b.header("Authorization", "Basic " + Base64.getEncoder().encodeToString(("admin:" + PASSWORD).getBytes(StandardCharsets.UTF_8)));
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    JsonNode health() throws Exception {
        HttpResponse<String> r = get("/system/health", true);
        JsonNode h = DaemonProcessTest.JSON.readTree(r.body());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(h.get("overallResult").asText().equals("OK") ? 200 : 503);
        return h;
    }

    JsonNode awaitHealth(Predicate<JsonNode> done, long ms) throws Exception {
        long deadline = System.nanoTime() + ms * 1_000_000L;
        JsonNode h;
        do {
            h = health();
            if (done.test(h)) {
                return h;
            }
            Thread.sleep(200);
        } while (System.nanoTime() < deadline);
        throw new AssertionError("/system/health did not reach the expected state within " + ms + " ms: " + h);
    }

    static String status(JsonNode health, String check) {
        for (JsonNode r : health.get("results")) {
            if (r.get("name").asText().equals(check)) {
                return r.get("status").asText();
            }
        }
        return "absent";
    }

    @Test
    void theDaemonServesConsoleHealthAndMetrics(@TempDir Path work) throws Exception {
        Path image = work.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(16L << 20);
        }
        Path pw = Files.writeString(work.resolve("pw"), PASSWORD + "\n");
        Path sock = work.resolve("control.sock");
        int port = freePort();
        base = "http://127.0.0.1:" + port;
        Path log = work.resolve("daemon.log");
        ProcessBuilder pb = new ProcessBuilder(DaemonProcessTest.REACTOR.resolve("vhost").toString(), "daemon", "--control", sock.toString(),
                "--conf", work.resolve("conf").toString(), "--deploy", work.resolve("deploy").toString(), "--http", "127.0.0.1:" + port,
                "--http-password-file", pw.toString())
                .redirectErrorStream(true).redirectOutput(log.toFile()).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        pb.environment().put("VHOST_LOG_LEVEL", "info");
        Process daemon = pb.start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(DaemonProcessTest.START_S);
            while (!Files.readString(log).contains("web console " + base + "/system/console/vhost")) {
                assertThat(daemon.isAlive()).as(Files.readString(log)).isTrue();
                assertThat(System.nanoTime()).as("the daemon serves HTTP within " + DaemonProcessTest.START_S + " s: " + Files.readString(log))
                        .isLessThan(deadline);
                Thread.sleep(100);
            }
            try (DaemonProcessTest.Client c = new DaemonProcessTest.Client(sock)) {
                Path a = work.resolve("a.sock");
                Path b = work.resolve("b.sock");
                c.result("backend_serve_blk", "{\"name\":\"a\",\"image\":\"" + image + "\",\"socket\":\"" + a + "\"}");
                c.result("backend_serve_blk", "{\"name\":\"b\",\"image\":\"" + image + "\",\"socket\":\"" + b + "\"}");
                JsonNode dev = c.result("device_create", "{\"id\":\"d0\",\"type\":\"blk\",\"backend_type\":\"user\",\"target\":\"" + a + "\"}");
                assertThat(dev.get("status").asText()).as(dev.toString()).isEqualTo("BOUND");

                // every page wants the password
                for (String path : List.of("/metrics", "/system/health", "/system/console/vhost")) {
                    HttpResponse<String> denied = get(path, false);
                    assertThat(denied.statusCode()).as(path).isEqualTo(401);
                    assertThat(denied.headers().firstValue("WWW-Authenticate").orElse("")).as(path).startsWith("Basic realm=");
                }

                // metrics: Prometheus text with the device's and the back-ends' series
                HttpResponse<String> m = get("/metrics", true);
                assertThat(m.statusCode()).isEqualTo(200);
                assertThat(m.headers().firstValue("Content-Type").orElse("")).startsWith("text/plain; version=0.0.4");
                PrometheusText metrics = PrometheusText.parse(m.body());
                String d0 = "{device=\"d0\",type=\"blk\"}";
                assertThat(metrics.types.get("vhost_device_requests_total")).isEqualTo("counter");
                assertThat(metrics.types.get("vhost_device_swap_pause_seconds")).isEqualTo("histogram");
                assertThat(metrics.value("vhost_device_requests_total" + d0)).isGreaterThanOrEqualTo(0);
                assertThat(metrics.value("vhost_device_bytes_total" + d0)).isGreaterThanOrEqualTo(0);
                assertThat(metrics.value("vhost_device_errors_total" + d0)).isZero();
                assertThat(metrics.value("vhost_device_swaps_total" + d0)).isZero();
                assertThat(metrics.value("vhost_device_bound" + d0)).isEqualTo(1);
                assertThat(metrics.value("vhost_device_swap_pause_seconds_bucket{device=\"d0\",type=\"blk\",le=\"+Inf\"}")).isZero();
                assertThat(metrics.value("vhost_served_sessions_total{backend=\"a\",type=\"blk\"}")).isEqualTo(1);
                assertThat(metrics.value("vhost_served_sessions_total{backend=\"b\",type=\"blk\"}")).isZero();
                assertThat(metrics.value("vhost_served_requests_total{backend=\"a\",type=\"blk\"}")).isGreaterThanOrEqualTo(0);

                // health: OK, one check per device and served back-end, as the health method says
                JsonNode h = awaitHealth(x -> !status(x, "device d0").equals("absent") && !status(x, "served b").equals("absent"), 5_000);
                assertThat(h.get("overallResult").asText()).as(h.toString()).isEqualTo("OK");
                assertThat(status(h, "device d0")).isEqualTo("OK");
                assertThat(status(h, "served a")).isEqualTo("OK");
                JsonNode rpcHealth = c.result("health", "{}");
                assertThat(rpcHealth.get("status").asText()).isEqualTo("OK");
                TreeSet<String> rpcNames = new TreeSet<>();
                rpcHealth.get("checks").forEach(x -> rpcNames.add(x.get("name").asText()));
                TreeSet<String> httpNames = new TreeSet<>();
                h.get("results").forEach(x -> httpNames.add(x.get("name").asText()));
                httpNames.remove("vhost bundles");
                assertThat(httpNames).isEqualTo(rpcNames);

                // the back-end goes away: the device is CRITICAL; back again: OK
                c.result("backend_served_delete", "{\"name\":\"a\"}");
                h = awaitHealth(x -> status(x, "device d0").equals("CRITICAL"), 10_000);
                assertThat(h.get("overallResult").asText()).isEqualTo("CRITICAL");
                assertThat(c.result("health", "{}").get("status").asText()).isEqualTo("CRITICAL");
                c.result("backend_serve_blk", "{\"name\":\"a\",\"image\":\"" + image + "\",\"socket\":\"" + a + "\"}");
                h = awaitHealth(x -> x.get("overallResult").asText().equals("OK"), 20_000);
                assertThat(status(h, "device d0")).isEqualTo("OK");
                assertThat(c.result("device_get", "{\"id\":\"d0\"}").get("status").asText()).isEqualTo("BOUND");

                // a back-end in a process of its own: killed, the device is CRITICAL; started again, OK
                Path ext = work.resolve("ext.sock");
                Process serve = serve(work, image, ext);
                try {
                    JsonNode d1 = c.result("device_create", "{\"id\":\"d1\",\"type\":\"blk\",\"backend_type\":\"user\",\"target\":\"" + ext + "\"}");
                    assertThat(d1.get("status").asText()).as(d1.toString()).isEqualTo("BOUND");
                    awaitHealth(x -> status(x, "device d1").equals("OK"), 5_000);
                    serve.destroyForcibly();
                    assertThat(serve.waitFor(10, TimeUnit.SECONDS)).isTrue();
                    awaitHealth(x -> status(x, "device d1").equals("CRITICAL"), 10_000);
                    serve = serve(work, image, ext);
                    awaitHealth(x -> status(x, "device d1").equals("OK") && x.get("overallResult").asText().equals("OK"), 20_000);
                    c.result("device_delete", "{\"id\":\"d1\"}");
                } finally {
                    serve.destroyForcibly();
                    serve.waitFor(10, TimeUnit.SECONDS);
                }

                // the console in a browser: log in, see d0 on a, swap it to b from the form (the
                // reconnect to a above counts as a swap of the driver already)
                long swaps = c.result("device_stats", "{\"id\":\"d0\"}").get("swaps").asLong();
                swapInTheBrowser(work, port, a, b, swaps);
                JsonNode after = c.result("device_get", "{\"id\":\"d0\"}");
                assertThat(after.get("target").asText()).isEqualTo(b.toString());
                assertThat(after.get("counters").get("swaps").asLong()).isEqualTo(swaps + 1);
                PrometheusText later = PrometheusText.parse(get("/metrics", true).body());
                assertThat(later.value("vhost_device_swaps_total" + d0)).isEqualTo(swaps + 1);
                assertThat(later.value("vhost_device_swap_pause_seconds_count" + d0)).isGreaterThanOrEqualTo(1);
                assertThat(later.value("vhost_device_swap_pause_seconds_bucket{device=\"d0\",type=\"blk\",le=\"+Inf\"}"))
                        .isEqualTo(later.value("vhost_device_swap_pause_seconds_count" + d0));

                // Metatype: the device configuration's description is readable in the console
                HttpResponse<String> meta = get("/system/console/configMgr", true);
                assertThat(meta.statusCode()).isEqualTo(200);
                assertThat(meta.body()).as("the factory PID named by its Metatype OCD").contains("{\"id\":\"com.vhost.device\",\"name\":\"vhost device\"}");
            }

            // a non-loopback address without a password file is refused before anything starts
            DaemonProcessTest.Run refused = DaemonProcessTest.vhost(work, Map.of(), "daemon", "--control", work.resolve("c2.sock").toString(),
                    "--http", "0.0.0.0:" + port);
            assertThat(refused.exit()).as(refused.out() + refused.err()).isEqualTo(2);
            assertThat(refused.err()).contains("not a loopback address", "--http-password-file");

            daemon.toHandle().destroy();
            assertThat(daemon.waitFor(30, TimeUnit.SECONDS)).as("the daemon stops within 30 s of SIGTERM").isTrue();
            assertThat(sock).doesNotExist();
        } finally {
            if (daemon.isAlive()) {
                daemon.toHandle().destroyForcibly();
                daemon.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    /** Starts {@code ./vhost serve blk} on {@code socket} and returns once it listens (bounded); the caller stops it by PID. */
    static Process serve(Path work, Path image, Path socket) throws Exception {
        Files.deleteIfExists(socket);
        ProcessBuilder pb = new ProcessBuilder(DaemonProcessTest.REACTOR.resolve("vhost").toString(), "serve", "blk", "--image", image.toString(),
                "--socket", socket.toString()).redirectErrorStream(true).redirectOutput(work.resolve("serve.log").toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        Process p = pb.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(DaemonProcessTest.START_S);
        while (true) {
            try (java.nio.channels.SocketChannel ch = java.nio.channels.SocketChannel.open(java.net.UnixDomainSocketAddress.of(socket))) {
                return p;
            } catch (java.io.IOException notYet) {
                if (!p.isAlive() || System.nanoTime() > deadline) {
                    p.destroyForcibly();
                    p.waitFor(10, TimeUnit.SECONDS);
                    throw new AssertionError("vhost serve blk did not listen on " + socket + ": " + Files.readString(work.resolve("serve.log")));
                }
                Thread.sleep(50);
            }
        }
    }

    /** Drives headless chromium through chromedriver (started here, stopped by PID with chromium below it). */
    void swapInTheBrowser(Path work, int port, Path a, Path b, long swapsBefore) throws Exception {
        if (!Files.isExecutable(CHROMIUM) || !Files.isExecutable(CHROMEDRIVER)) {
            String why = "no " + (Files.isExecutable(CHROMIUM) ? CHROMEDRIVER : CHROMIUM) + ": install Debian's chromium and chromium-driver"
                    + " (scripts/install-deps.sh)";
            if ("true".equals(System.getenv("CI"))) {
                throw new AssertionError(why);
            }
            Assumptions.abort(why);
        }
        int driverPort = freePort();
        Process chromedriver = new ProcessBuilder(CHROMEDRIVER.toString(), "--port=" + driverPort, "--allowed-ips=127.0.0.1")
                .redirectErrorStream(true).redirectOutput(work.resolve("chromedriver.log").toFile()).start();
        WebDriver driver = null;
        try {
            URL driverUrl = URI.create("http://127.0.0.1:" + driverPort).toURL();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (true) {
                try (java.net.Socket s = new java.net.Socket("127.0.0.1", driverPort)) {
                    break;
                } catch (java.io.IOException notYet) {
                    assertThat(System.nanoTime()).as("chromedriver listens within 20 s").isLessThan(deadline);
                    Thread.sleep(100);
                }
            }
            ChromeOptions o = new ChromeOptions();
            o.setBinary(CHROMIUM.toFile());
            o.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                    "--user-data-dir=" + work.resolve("chromium-profile"));
            driver = new RemoteWebDriver(driverUrl, o);
            driver.manage().timeouts().pageLoadTimeout(Duration.ofSeconds(20));
            // the credentials in the URL log in (Basic); the browser keeps them for the form's POST
            driver.get("http://admin:" + PASSWORD + "@127.0.0.1:" + port + "/system/console/vhost");
            WebDriverWait wait = new WebDriverWait(driver, Duration.ofSeconds(15));
            WebElement row = wait.until(d -> d.findElement(By.id("device-d0")));
            assertThat(row.findElement(By.className("status")).getText()).isEqualTo("BOUND");
            assertThat(row.findElement(By.className("target")).getText()).isEqualTo(a.toString());
            assertThat(row.findElement(By.className("served-by")).getText()).isEqualTo("a");
            assertThat(driver.findElement(By.id("vhost-served")).getText()).contains(a.toString(), b.toString());
            assertThat(driver.findElement(By.id("vhost-ops")).getText()).contains("user", "com.vhost.user");
            WebElement form = driver.findElement(By.id("swap-d0"));
            new Select(form.findElement(By.name("target"))).selectByValue(b.toString());
            form.findElement(By.cssSelector("input[type=submit]")).click();
            WebElement result = wait.until(d -> d.findElement(By.id("vhost-result")));
            assertThat(result.getText()).contains("device d0 swapped to " + b);
            WebElement swapped = driver.findElement(By.id("device-d0"));
            assertThat(swapped.findElement(By.className("target")).getText()).isEqualTo(b.toString());
            assertThat(swapped.findElement(By.className("served-by")).getText()).isEqualTo("b");
            assertThat(swapped.findElement(By.className("swaps")).getText()).isEqualTo(Long.toString(swapsBefore + 1));
        } finally {
            if (driver != null) {
                WebDriver d = driver;
                Thread quit = new Thread(d::quit, "chromedriver-quit");
                quit.setDaemon(true);
                quit.start();
                quit.join(10_000);
            }
            List<ProcessHandle> all = new ArrayList<>(chromedriver.descendants().toList());
            all.add(chromedriver.toHandle());
            all.forEach(ProcessHandle::destroyForcibly);
            chromedriver.waitFor(10, TimeUnit.SECONDS);
        }
    }
}
