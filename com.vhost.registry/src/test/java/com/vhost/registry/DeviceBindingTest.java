package com.vhost.registry;

import static org.assertj.core.api.Assertions.assertThat;

import com.vhost.api.VhostBackend;
import com.vhost.api.VhostOps;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.DeviceInfo.Status;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.api.registry.VirtioDriverFactory;
import com.vhost.registry.BindingAction.*;
import com.vhost.registry.BindingInput.*;
import com.vhost.registry.DeviceBinding.Backend;
import com.vhost.registry.DeviceBinding.Factory;
import java.lang.reflect.Proxy;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The binding state machine driven with inputs, asserting its actions: no threads, no sleeps. The
 * services, drivers and connections are handles that fail the test if the machine calls them.
 */
class DeviceBindingTest {
    private final DeviceBinding m = new DeviceBinding();
    private long serviceIds;

    static <T> T handle(Class<T> type, String name) {
        return type.cast(Proxy.newProxyInstance(type.getClassLoader(), new Class<?>[] {type}, (p, method, args) ->
                switch (method.getName()) {
                    case "toString" -> name;
                    case "hashCode" -> System.identityHashCode(p);
                    case "equals" -> p == args[0];
                    default -> throw new AssertionError("the state machine called " + name + "." + method.getName());
                }));
    }

    private final VhostOps opsA = handle(VhostOps.class, "ops a");
    private final VhostOps opsB = handle(VhostOps.class, "ops b");
    private final Backend a = backend(opsA, "a", 0);
    private final Backend b = backend(opsB, "b", 0);
    private final Factory blk = new Factory(handle(VirtioDriverFactory.class, "blk factory"), "blk");
    private final VirtioDriver d1 = handle(VirtioDriver.class, "driver 1");
    private final VirtioDriver d2 = handle(VirtioDriver.class, "driver 2");
    private final VhostBackend c1 = handle(VhostBackend.class, "connection 1");
    private final VhostBackend c2 = handle(VhostBackend.class, "connection 2");

    private Backend backend(VhostOps ops, String name, int ranking) {
        return new Backend(ops, name, "user", ranking, ++serviceIds);
    }

    private static DeviceBinding.Config config(Object... kv) {
        Map<String, Object> p = new HashMap<>();
        p.put("service.pid", "com.vhost.device~d0");
        p.put("target", "/tmp/t.sock");
        for (int i = 0; i < kv.length; i += 2) {
            p.put((String) kv[i], kv[i + 1]);
        }
        return DeviceComponent.configOf(p);
    }

    /** @return the actions other than log lines */
    private static List<BindingAction> acts(List<BindingAction> all) {
        return all.stream().filter(x -> !(x instanceof Log)).toList();
    }

    private static List<String> logs(List<BindingAction> all) {
        return all.stream().filter(x -> x instanceof Log).map(x -> ((Log) x).level() + " " + ((Log) x).message()).toList();
    }

    private static <A extends BindingAction> A only(List<BindingAction> all, Class<A> type) {
        List<BindingAction> rest = acts(all);
        assertThat(rest).as("actions").hasSize(1);
        assertThat(rest.get(0)).isInstanceOf(type);
        return type.cast(rest.get(0));
    }

    private DeviceInfo info() {
        return m.info();
    }

    /** Configured, both providers bound and the open done: d1 runs on a over c1. */
    private void bound() {
        m.apply(new Configured(config()));
        m.apply(new BackendAdded(a));
        Open open = only(m.apply(new FactoryAdded(blk)), Open.class);
        m.apply(new Opened(open.ticket(), d1, c1, "blk test"));
        assertThat(info().status()).isEqualTo(Status.BOUND);
    }

    @Test
    void waitsForBothProvidersThenOpensOnceAndBinds() {
        assertThat(logs(m.apply(new Configured(config("queues", 2))))).containsExactly(
                "INFO device d0: configured blk on a user backend at /tmp/t.sock (2 queue(s) of 256)");
        assertThat(info()).isEqualTo(new DeviceInfo("d0", "blk", Status.WAITING, null, "/tmp/t.sock",
                "no user backend (no VhostOps matches (vhost.backend.type=user))"));
        List<BindingAction> r = m.apply(new BackendAdded(a));
        assertThat(logs(r)).containsExactly("INFO device d0: bind backend a (service 1)");
        assertThat(acts(r)).isEmpty();
        assertThat(info().detail()).isEqualTo("no driver factory for device type blk (no VirtioDriverFactory matches (vhost.device.type=blk))");

        Open open = only(m.apply(new FactoryAdded(blk)), Open.class);
        assertThat(open.ops()).isSameAs(opsA);
        assertThat(open.factory()).isSameAs(blk.factory());
        assertThat(open.target()).isEqualTo("/tmp/t.sock");
        assertThat(open.settings().queues()).isEqualTo(2);
        assertThat(info().status()).isEqualTo(Status.WAITING);
        assertThat(info().backendName()).isEqualTo("a");
        assertThat(info().detail()).isEqualTo("connecting to /tmp/t.sock");
        assertThat(acts(m.apply(new HealthTick()))).as("nothing more while the open is in flight").isEmpty();

        r = m.apply(new Opened(open.ticket(), d1, c1, "blk test"));
        assertThat(logs(r)).containsExactly("INFO device d0: bind to a (/tmp/t.sock): blk test");
        assertThat(only(r, StartHealthChecks.class).periodMs()).isEqualTo(1000);
        assertThat(info()).isEqualTo(new DeviceInfo("d0", "blk", Status.BOUND, "a", "/tmp/t.sock", "blk test"));
        assertThat(m.driver()).isSameAs(d1);
        assertThat(m.busy()).isFalse();
    }

    @Test
    void bindingsBeforeActivationAreKeptAndOpenedOnActivation() {
        assertThat(logs(m.apply(new BackendAdded(a)))).containsExactly("INFO device (activating): bind backend a (service 1)");
        assertThat(acts(m.apply(new FactoryAdded(blk)))).isEmpty();
        assertThat(info().detail()).isEqualTo("not yet activated");
        assertThat(only(m.apply(new Configured(config())), Open.class).ops()).isSameAs(opsA);
    }

    @Test
    void aCurableFailureIsRetriedWithBackoffSixTimesAndAChangeStartsTheCountAgain() {
        m.apply(new Configured(config()));
        m.apply(new BackendAdded(a));
        Open open = only(m.apply(new FactoryAdded(blk)), Open.class);
        long[] delays = {250, 500, 1000, 2000, 4000, 8000};
        for (int i = 0; i < delays.length; i++) {
            List<BindingAction> r = m.apply(new OpenFailed(open.ticket(), "a: connect(/tmp/t.sock) failed: Connection refused", true));
            ScheduleRetry retry = only(r, ScheduleRetry.class);
            assertThat(retry.delayMs()).isEqualTo(delays[i]);
            String detail = "a: connect(/tmp/t.sock) failed: Connection refused (retry " + (i + 1) + "/6 in " + delays[i] + " ms)";
            assertThat(info()).isEqualTo(new DeviceInfo("d0", "blk", Status.FAILED, "a", "/tmp/t.sock", detail));
            assertThat(logs(r)).containsExactly("ERROR device d0: FAILED on /tmp/t.sock: " + detail);
            assertThat(acts(m.apply(new HealthTick()))).as("no attempt before the timer").isEmpty();
            assertThat(acts(m.apply(new RetryFired(retry.ticket() + 100)))).as("not this timer").isEmpty();
            open = only(m.apply(new RetryFired(retry.ticket())), Open.class);
            assertThat(acts(m.apply(new RetryFired(retry.ticket())))).as("a timer fires once").isEmpty();
        }
        List<BindingAction> r = m.apply(new OpenFailed(open.ticket(), "a: refused", true));
        assertThat(acts(r)).as("attempts used up").isEmpty();
        assertThat(info().status()).isEqualTo(Status.FAILED);
        assertThat(info().detail()).isEqualTo("a: refused");

        open = only(m.apply(new BackendModified(new Backend(opsA, "a", "user", 5, a.serviceId()))), Open.class);
        assertThat(only(m.apply(new OpenFailed(open.ticket(), "a: refused", true)), ScheduleRetry.class).delayMs()).isEqualTo(250);
    }

    @Test
    void aFailureThatCannotCureItselfIsNotRetriedOnTheSameBindings() {
        m.apply(new Configured(config()));
        m.apply(new BackendAdded(a));
        Open open = only(m.apply(new FactoryAdded(blk)), Open.class);
        List<BindingAction> r = m.apply(new OpenFailed(open.ticket(), "a: blk device configuration: 'poll' = 'maybe'", false));
        assertThat(acts(r)).isEmpty();
        assertThat(info().status()).isEqualTo(Status.FAILED);
        assertThat(info().detail()).isEqualTo("a: blk device configuration: 'poll' = 'maybe'").doesNotContain("retry");
        // a45a691: whatever else arrives on the same bindings opens nothing (it used to open the backend twice).
        assertThat(acts(m.apply(new HealthTick()))).isEmpty();
        assertThat(acts(m.apply(new RetryFired(0)))).isEmpty();
        assertThat(acts(m.apply(new Abandoned(open.ticket())))).isEmpty();
        assertThat(acts(m.apply(new OpenFailed(open.ticket(), "again", false)))).isEmpty();
        assertThat(info().detail()).startsWith("a: blk device configuration");
        // A new binding tries again.
        assertThat(only(m.apply(new BackendAdded(b)), Open.class).ops()).isSameAs(opsB);
    }

    @Test
    void anOpenThatCompletesAfterTheConfigurationChangedIsClosedAndTheNewOneOpened() {
        m.apply(new Configured(config()));
        m.apply(new BackendAdded(a));
        Open first = only(m.apply(new FactoryAdded(blk)), Open.class);
        List<BindingAction> r = m.apply(new Reconfigured(config("target", "/tmp/new.sock")));
        assertThat(logs(r)).containsExactly("INFO device d0: configuration updated");
        assertThat(acts(r)).as("one open at a time").isEmpty();
        assertThat(m.isWanted(first.ticket())).isFalse();

        r = m.apply(new Opened(first.ticket(), d1, c1, "blk test"));
        assertThat(acts(r)).hasSize(2);
        assertThat(acts(r).get(0)).isEqualTo(new Close(d1, "superseded while connecting"));
        Open second = (Open) acts(r).get(1);
        assertThat(second.target()).isEqualTo("/tmp/new.sock");
        assertThat(m.isWanted(second.ticket())).isTrue();
        assertThat(m.driver()).isNull();

        // The worker finds it out of date before starting: abandoned, and the next one goes.
        m.apply(new Reconfigured(config("target", "/tmp/third.sock")));
        assertThat(m.isWanted(second.ticket())).isFalse();
        assertThat(only(m.apply(new Abandoned(second.ticket())), Open.class).target()).isEqualTo("/tmp/third.sock");
    }

    @Test
    void anOpenThatCompletesAfterDeactivateIsClosedAndNothingElseHappens() {
        m.apply(new Configured(config()));
        m.apply(new BackendAdded(a));
        Open open = only(m.apply(new FactoryAdded(blk)), Open.class);
        assertThat(acts(m.apply(new Deactivated()))).isEmpty();
        assertThat(m.isWanted(open.ticket())).isFalse();
        assertThat(acts(m.apply(new Opened(open.ticket(), d1, c1, "blk test"))))
                .containsExactly(new Close(d1, "superseded while connecting"));
        assertThat(acts(m.apply(new BackendAdded(b)))).isEmpty();
        assertThat(m.driver()).isNull();
        assertThat(m.busy()).isFalse();
    }

    @Test
    void anOpenThatCompletesAfterItsBackendLeftIsClosedAndTheDeviceWaits() {
        m.apply(new Configured(config()));
        m.apply(new BackendAdded(a));
        Open open = only(m.apply(new FactoryAdded(blk)), Open.class);
        assertThat(acts(m.apply(new BackendRemoved(a)))).as("no driver to detach yet").isEmpty();
        assertThat(acts(m.apply(new Opened(open.ticket(), d1, c1, "blk test"))))
                .containsExactly(new Close(d1, "superseded while connecting"));
        assertThat(info().status()).isEqualTo(Status.WAITING);
        assertThat(info().detail()).startsWith("no user backend");

        // A failure that arrives after the change is not the device's state either.
        open = only(m.apply(new BackendAdded(b)), Open.class);
        m.apply(new BackendAdded(a));
        List<BindingAction> r = m.apply(new OpenFailed(open.ticket(), "b: refused", false));
        assertThat(only(r, Open.class).ops()).isSameAs(opsA);
        assertThat(info().detail()).isEqualTo("connecting to /tmp/t.sock");
    }

    @Test
    void aBetterRankedBackendMovesTheRunningDriverAndTheOldOneLeavesQuietly() {
        bound();
        // DS's greedy reference binds the better-ranked service, then unbinds the old one.
        Rebind move = only(m.apply(new BackendAdded(backend(opsB, "b", 10))), Rebind.class);
        assertThat(move.driver()).isSameAs(d1);
        assertThat(move.ops()).isSameAs(opsB);
        assertThat(move.target()).isEqualTo("/tmp/t.sock");
        assertThat(move.fromDetached()).isFalse();
        assertThat(m.busy()).isTrue();

        List<BindingAction> r = m.apply(new Moved(move.ticket(), c2, "blk test", 2));
        assertThat(logs(r)).containsExactly("INFO device d0: swap from a (/tmp/t.sock) to b (/tmp/t.sock), pause 2 ms");
        assertThat(acts(r)).isEmpty();
        assertThat(info()).isEqualTo(new DeviceInfo("d0", "blk", Status.BOUND, "b", "/tmp/t.sock", "blk test"));
        assertThat(m.swapCount()).isEqualTo(1);
        assertThat(m.lastSwapMillis()).isEqualTo(2);

        r = m.apply(new BackendRemoved(a));
        assertThat(logs(r)).containsExactly("INFO device d0: unbind backend a (service 1)");
        assertThat(acts(r)).isEmpty();
    }

    @Test
    void whenTheBoundBackendLeavesDsBindsTheReplacementFirstAndTheDriverMovesWithoutADetach() {
        bound();
        Rebind move = only(m.apply(new BackendAdded(backend(opsB, "b", 10))), Rebind.class);
        m.apply(new Moved(move.ticket(), c2, "blk test", 2));
        assertThat(acts(m.apply(new BackendRemoved(a)))).isEmpty();
        // b leaves: DS binds a again (lower ranked, but now its choice) before unbinding b.
        move = only(m.apply(new BackendAdded(a)), Rebind.class);
        assertThat(move.ops()).isSameAs(opsA);
        assertThat(move.fromDetached()).isFalse();
        assertThat(logs(m.apply(new Moved(move.ticket(), c1, "blk test", 1))))
                .containsExactly("INFO device d0: swap from b (/tmp/t.sock) to a (/tmp/t.sock), pause 1 ms");
        assertThat(acts(m.apply(new BackendRemoved(backend(opsB, "b", 10))))).as("nothing left on b").isEmpty();
        // A changed name of the bound service is a change; the same properties again are not.
        assertThat(logs(m.apply(new BackendModified(new Backend(opsA, "a2", "user", 5, a.serviceId())))))
                .containsExactly("INFO device d0: backend a2 (service 1) changed, ranking 5");
        assertThat(m.apply(new BackendModified(new Backend(opsA, "a2", "user", 5, a.serviceId())))).isEmpty();
    }

    @Test
    void theBackendLeavingDetachesTheDriverAndTheNextOneResumesIt() {
        bound();
        List<BindingAction> r = m.apply(new BackendRemoved(a));
        assertThat(logs(r)).containsExactly("INFO device d0: unbind backend a (service 1)");
        assertThat(only(r, Detach.class)).isEqualTo(new Detach(d1, "a", "backend a went away"));
        r = m.apply(new Detached(d1, "a", "backend a went away", 0));
        assertThat(logs(r)).containsExactly("INFO device d0: unbind from a to (none), pause 0 ms so far (backend a went away)");
        assertThat(acts(r)).isEmpty();
        assertThat(info()).isEqualTo(new DeviceInfo("d0", "blk", Status.WAITING, null, "/tmp/t.sock",
                "detached from a (backend a went away); requests wait for a backend (swap.wait.ms)"));
        assertThat(m.driver()).as("the handle stays").isSameAs(d1);
        assertThat(m.boundDriver()).isNull();
        assertThat(acts(m.apply(new HealthTick()))).isEmpty();

        Rebind move = only(m.apply(new BackendAdded(b)), Rebind.class);
        assertThat(move.fromDetached()).isTrue();
        assertThat(logs(m.apply(new Moved(move.ticket(), c2, "blk test", 40))))
                .containsExactly("INFO device d0: swap from (none) to b (/tmp/t.sock), pause 40 ms");
        assertThat(m.boundDriver()).isSameAs(d1);
    }

    @Test
    void aDriverThatCannotDetachIsClosedAndCreatedAgainOnTheNextBackend() {
        bound();
        m.apply(new BackendRemoved(a));
        assertThat(acts(m.apply(new DetachFailed(d1, "backend a went away")))).containsExactly(new Close(d1, "backend a went away"));
        assertThat(info().detail()).startsWith("no user backend");
        assertThat(only(m.apply(new BackendAdded(b)), Open.class).ops()).isSameAs(opsB);
    }

    @Test
    void theBackendLeavingBeforeAQueuedMoveStartsDetachesAndTheMoveStartsAgainFromDetached() {
        bound();
        Rebind queued = only(m.apply(new BackendAdded(backend(opsB, "b", 10))), Rebind.class);
        // DS's greedy replacement: the old service is unbound before the worker took the move.
        assertThat(only(m.apply(new BackendRemoved(a)), Detach.class).driver()).isSameAs(d1);
        assertThat(m.isWanted(queued.ticket())).isFalse();
        assertThat(acts(m.apply(new Detached(d1, "a", "backend a went away", 0)))).isEmpty();
        Rebind again = only(m.apply(new Abandoned(queued.ticket())), Rebind.class);
        assertThat(again.ops()).isSameAs(opsB);
        assertThat(again.fromDetached()).isTrue();
    }

    @Test
    void aTargetOrOptionChangeMovesTheDriverAndOtherChangesCreateItAgain() {
        bound();
        Rebind move = only(m.apply(new Reconfigured(config("target", "/tmp/new.sock"))), Rebind.class);
        assertThat(move.ops()).isSameAs(opsA);
        assertThat(move.target()).isEqualTo("/tmp/new.sock");
        m.apply(new Moved(move.ticket(), c2, "blk test", 1));
        assertThat(info().target()).isEqualTo("/tmp/new.sock");

        move = only(m.apply(new Reconfigured(config("target", "/tmp/new.sock", "option.mode", "server"))), Rebind.class);
        assertThat(move.options()).containsEntry("mode", "server");
        m.apply(new Moved(move.ticket(), c1, "blk test", 1));
        assertThat(acts(m.apply(new Reconfigured(config("target", "/tmp/new.sock", "option.mode", "server"))))).as("nothing changed").isEmpty();

        List<BindingAction> r = m.apply(new Reconfigured(config("target", "/tmp/new.sock", "queues", 2)));
        assertThat(acts(r).get(0)).isEqualTo(new Close(d1, "configuration changed"));
        assertThat(((Open) acts(r).get(1)).settings().queues()).isEqualTo(2);
    }

    @Test
    void aTargetChangeWhileAMoveRunsIsNotLost() {
        bound();
        Rebind first = only(m.apply(new Reconfigured(config("target", "/tmp/x.sock"))), Rebind.class);
        assertThat(acts(m.apply(new Reconfigured(config("target", "/tmp/y.sock"))))).isEmpty();
        Rebind second = only(m.apply(new Moved(first.ticket(), c2, "blk test", 1)), Rebind.class);
        assertThat(second.target()).isEqualTo("/tmp/y.sock");
        assertThat(info().target()).isEqualTo("/tmp/x.sock");
    }

    @Test
    void anOperatorsSwapMovesTheDriverAndARefusedOneLeavesItOnItsBackend() {
        assertThat(only(m.apply(new SwapRequested(null, "/tmp/o.sock")), Refuse.class).message())
                .isEqualTo("swap: device (activating) has no running driver (WAITING: not yet activated)");
        bound();
        Rebind move = only(m.apply(new SwapRequested(null, "/tmp/o.sock")), Rebind.class);
        assertThat(move.ops()).isSameAs(opsA);
        assertThat(move.target()).isEqualTo("/tmp/o.sock");
        m.apply(new Moved(move.ticket(), c2, "blk test", 3));
        assertThat(m.busy()).isFalse();
        assertThat(m.lastMoveError()).isNull();
        assertThat(info().target()).isEqualTo("/tmp/o.sock");

        Backend bad = new Backend(handle(VhostOps.class, "bad"), "bad", null, 0, null);
        move = only(m.apply(new SwapRequested(bad, null)), Rebind.class);
        assertThat(move.target()).as("the configured target").isEqualTo("/tmp/t.sock");
        List<BindingAction> r = m.apply(new MoveFailed(move.ticket(), "swap to bad (/tmp/t.sock) failed: refused", true));
        assertThat(acts(r)).as("not retried behind the operator's back").isEmpty();
        assertThat(logs(r)).containsExactly("ERROR device d0: swap to bad (/tmp/t.sock) failed: refused");
        assertThat(info().status()).isEqualTo(Status.BOUND);
        assertThat(info().backendName()).isEqualTo("a");
        assertThat(info().detail()).isEqualTo("swap to bad (/tmp/t.sock) failed: refused; still on a");
        assertThat(m.lastMoveError()).isNotNull();
        assertThat(acts(m.apply(new HealthTick()))).containsExactly(new ProbeHealth(c2));
    }

    @Test
    void aFailedMoveToABetterBackendIsNotRepeatedOnTheSameBindings() {
        bound();
        Rebind move = only(m.apply(new BackendAdded(backend(opsB, "b", 10))), Rebind.class);
        m.apply(new MoveFailed(move.ticket(), "swap to b (/tmp/t.sock) failed: rebind: blk test cannot move", false));
        assertThat(info().detail()).endsWith("; still on a");
        assertThat(acts(m.apply(new HealthTick()))).containsExactly(new ProbeHealth(c1));
        assertThat(acts(m.apply(new HealthChecked(c1, true)))).isEmpty();
        // Its old backend leaves: a driver that cannot detach is closed and one is made on b.
        m.apply(new BackendRemoved(a));
        List<BindingAction> r = m.apply(new DetachFailed(d1, "backend a went away"));
        assertThat(acts(r).get(0)).isEqualTo(new Close(d1, "backend a went away"));
        assertThat(((Open) acts(r).get(1)).ops()).isSameAs(opsB);
    }

    @Test
    void aFailedMoveOfADetachedDriverIsRetried() {
        bound();
        m.apply(new BackendRemoved(a));
        m.apply(new Detached(d1, "a", "backend a went away", 0));
        Rebind move = only(m.apply(new BackendAdded(b)), Rebind.class);
        List<BindingAction> r = m.apply(new MoveFailed(move.ticket(), "swap to b (/tmp/t.sock) failed: b: no socket", true));
        ScheduleRetry retry = only(r, ScheduleRetry.class);
        assertThat(info()).isEqualTo(new DeviceInfo("d0", "blk", Status.FAILED, null, "/tmp/t.sock",
                "swap to b (/tmp/t.sock) failed: b: no socket (retry 1/6 in 250 ms); detached, requests wait (swap.wait.ms)"));
        assertThat(only(m.apply(new RetryFired(retry.ticket())), Rebind.class).fromDetached()).isTrue();
    }

    @Test
    void aBackendThatReportsItselfDisconnectedIsReleasedAndReconnected() {
        bound();
        assertThat(acts(m.apply(new HealthTick()))).containsExactly(new ProbeHealth(c1));
        assertThat(acts(m.apply(new HealthChecked(c1, true)))).isEmpty();
        assertThat(acts(m.apply(new HealthChecked(c2, false)))).as("not its connection").isEmpty();
        List<BindingAction> r = m.apply(new HealthChecked(c1, false));
        assertThat(logs(r)).containsExactly("WARN device d0: backend a disconnected; releasing it and reconnecting");
        assertThat(only(r, Detach.class)).isEqualTo(new Detach(d1, "a", "backend a disconnected"));
        Rebind move = only(m.apply(new Detached(d1, "a", "backend a disconnected", 0)), Rebind.class);
        assertThat(move.ops()).as("the same service, connected anew").isSameAs(opsA);
        assertThat(move.fromDetached()).isTrue();
        // A driver that cannot detach is closed and created again instead.
        m.apply(new Moved(move.ticket(), c2, "blk test", 5));
        m.apply(new HealthChecked(c2, false));
        r = m.apply(new DetachFailed(d1, "backend a disconnected"));
        assertThat(acts(r).get(0)).isEqualTo(new Close(d1, "backend a disconnected"));
        assertThat(((Open) acts(r).get(1)).ops()).isSameAs(opsA);
    }

    @Test
    void deactivateClosesTheDriverAndLaterResultsOnlyCleanUp() {
        bound();
        Rebind move = only(m.apply(new BackendAdded(backend(opsB, "b", 10))), Rebind.class);
        assertThat(acts(m.apply(new Deactivated()))).containsExactly(new Close(d1, "device deactivated"));
        assertThat(info().status()).isEqualTo(Status.WAITING);
        assertThat(info().detail()).isEqualTo("driver stopped");
        assertThat(m.isWanted(move.ticket())).isFalse();
        assertThat(acts(m.apply(new MoveFailed(move.ticket(), "interrupted", true)))).isEmpty();
        assertThat(acts(m.apply(new HealthTick()))).isEmpty();
        assertThat(acts(m.apply(new Deactivated()))).as("twice is harmless").isEmpty();
        assertThat(only(m.apply(new SwapRequested(null, "/x")), Refuse.class).message()).contains("has no running driver");
    }

    @Test
    void anInvalidConfigurationFailsWithoutOpeningAndAnInvalidUpdateKeepsTheRunningDriver() {
        m.apply(new BackendAdded(a));
        m.apply(new FactoryAdded(blk));
        List<BindingAction> r = m.apply(new Configured(config("queue.size", "3")));
        assertThat(acts(r)).isEmpty();
        assertThat(logs(r)).containsExactly("ERROR device d0: invalid configuration: queue.size: 3 is not a power of two");
        assertThat(info().status()).isEqualTo(Status.FAILED);
        assertThat(info().detail()).isEqualTo("invalid configuration: queue.size: 3 is not a power of two");
        assertThat(only(m.apply(new Reconfigured(config())), Open.class).target()).isEqualTo("/tmp/t.sock");

        DeviceBinding fresh = new DeviceBinding();
        fresh.apply(new BackendAdded(a));
        Open open = (Open) acts(fresh.apply(new FactoryAdded(blk))).stream().findFirst().orElse(null);
        assertThat(open).as("not activated").isNull();
        open = (Open) acts(fresh.apply(new Configured(config()))).get(0);
        fresh.apply(new Opened(open.ticket(), d1, c1, "blk test"));
        r = fresh.apply(new Reconfigured(config("queues", "two")));
        assertThat(acts(r)).isEmpty();
        assertThat(logs(r)).containsExactly(
                "ERROR device d0: invalid configuration: queues: 'two' is not a number (the running driver, if any, is kept)");
        assertThat(fresh.info().status()).isEqualTo(Status.BOUND);
        assertThat(fresh.info().detail()).isEqualTo("invalid configuration: queues: 'two' is not a number (running driver kept)");
    }

    @Test
    void aBackendOrFactoryOfAnotherTypeIsNotUsed() {
        m.apply(new Configured(config()));
        m.apply(new FactoryAdded(new Factory(blk.factory(), "net")));
        assertThat(acts(m.apply(new BackendAdded(new Backend(opsA, "k", "kernel", 0, 7L))))).isEmpty();
        assertThat(info().detail()).isEqualTo("backend k is of type kernel, configured backend.type is user");
        m.apply(new BackendAdded(a));
        assertThat(info().detail()).isEqualTo("driver factory makes net devices, configured device.type is blk");
        assertThat(info().status()).isEqualTo(Status.WAITING);
    }

    @Test
    void theFactoryLeavingClosesItsDriverAndANewFactoryCreatesItAgain() {
        bound();
        List<BindingAction> r = m.apply(new FactoryRemoved(blk));
        assertThat(logs(r)).containsExactly("INFO device d0: unbind driver factory for blk");
        assertThat(acts(r)).containsExactly(new Close(d1, "driver factory for blk went away"));
        assertThat(info().detail()).startsWith("no driver factory for device type blk");
        Factory again = new Factory(handle(VirtioDriverFactory.class, "blk factory 2"), "blk");
        Open open = only(m.apply(new FactoryAdded(again)), Open.class);
        m.apply(new Opened(open.ticket(), d2, c2, "blk test"));
        // Greedy replacement of the factory: the driver of the old one is closed, one of the new made.
        Factory third = new Factory(handle(VirtioDriverFactory.class, "blk factory 3"), "blk");
        r = m.apply(new FactoryAdded(third));
        assertThat(acts(r).get(0)).isEqualTo(new Close(d2, "rebinding"));
        assertThat(((Open) acts(r).get(1)).factory()).isSameAs(third.factory());
    }

    @Test
    void aChangedDeviceTypeIsReported() {
        bound();
        List<BindingAction> r = m.apply(new Reconfigured(config("device.type", "net")));
        assertThat(acts(r)).containsExactly(new Close(d1, "configuration changed"));
        assertThat(info().deviceType()).as("was left at blk before").isEqualTo("net");
        assertThat(info().detail()).isEqualTo("driver factory makes blk devices, configured device.type is net");
    }
}
