package com.vhost.registry;

import com.vhost.api.VhostException;
import com.vhost.api.VhostOps;
import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.registry.DeviceInfo;
import com.vhost.api.registry.DeviceRegistry;
import com.vhost.api.registry.VirtioDriver;
import com.vhost.api.registry.VirtioDriverFactory;
import com.vhost.registry.BindingInput.*;
import com.vhost.registry.DeviceBinding.Backend;
import com.vhost.registry.DeviceBinding.Config;
import com.vhost.registry.DeviceBinding.Factory;
import java.util.Map;
import org.osgi.framework.Constants;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferencePolicyOption;
import org.osgi.service.metatype.annotations.Designate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One configured device: a component instance per factory configuration of PID
 * {@value DeviceRegistry#DEVICE_FACTORY_PID}. It only turns DS events into {@link BindingInput}s;
 * {@link DeviceBinding} decides and {@link DeviceWorker} acts.
 *
 * <p>Two references, both optional, dynamic and greedy, so the component is active (and can
 * report WAITING or FAILED) whether or not its providers exist, and rebinds at once to a
 * better-ranked provider:
 * <ul>
 *   <li>{@code backend}: a {@link VhostOps} whose target filter {@code backend.target} comes from
 *       the configuration ({@link TargetFilterPlugin} derives it from {@code backend.type});
 *   <li>{@code factory}: the {@link VirtioDriverFactory} of the configured {@code device.type}
 *       (target {@code factory.target}).
 * </ul>
 * When both are bound, the device's worker thread opens the backend ({@link VhostOps#open}) and
 * creates the driver ({@link VirtioDriverFactory#create}); when either goes away the driver is
 * detached or closed before the unbind returns (Declarative Services: a service must not be used
 * once its unbind method has returned).
 *
 * <p><b>Hot-swap.</b> A running driver that supports {@link VirtioDriver#rebind} is never closed
 * for a backend change, so the application's handle stays valid: when its backend service goes
 * away the driver is {@link VirtioDriver#detach() detached} (requests wait, bounded by
 * {@code swap.wait.ms}) and rebound as soon as a backend is there; a better-ranked backend, a
 * changed {@code target}/{@code backend.target}/{@code option.*} ({@link #modified}), or an
 * operator's {@link #swap} rebinds it directly. One log line per bind, unbind and swap (device,
 * from, to, pause). Drivers without rebind are closed and re-created.
 *
 * <p>Reconnect: a failure that may cure itself is retried after
 * {@link DeviceBinding#RETRY_DELAYS_MS}; any binding or configuration change starts the count again.
 */
@Designate(ocd = DeviceConfig.class, factory = true)
@Component(
        name = "com.vhost.registry.device",
        configurationPid = DeviceRegistry.DEVICE_FACTORY_PID,
        configurationPolicy = ConfigurationPolicy.REQUIRE,
        service = ManagedDevice.class,
        immediate = true)
public final class DeviceComponent implements ManagedDevice {
    private static final Logger LOG = LoggerFactory.getLogger(DeviceComponent.class);

    private final DeviceWorker worker = new DeviceWorker();
    private volatile DeviceMBeanRegistration mbean;

    /** DS activation with the factory configuration's properties (Configuration Admin, processed by {@link TargetFilterPlugin}). */
    @Activate
    void activate(Map<String, Object> props) {
        worker.fire(new Configured(configOf(props)));
        mbean = DeviceMBeanRegistration.register(this);
    }

    /**
     * A changed configuration (DS {@code @Modified}, no deactivation). When only the backend
     * selection changed ({@code target}, {@code backend.target}, {@code option.*}) a running driver
     * is moved to it (hot-swap); any other change re-creates the driver; an invalid one keeps the
     * running driver and reports the error. Returns once a driver to re-create is closed.
     */
    @Modified
    void modified(Map<String, Object> props) {
        worker.fire(new Reconfigured(configOf(props)));
    }

    /** DS deactivation: closes the driver and ends the worker (each bounded by 10 s), unregisters the MBean. */
    @Deactivate
    void deactivate() {
        worker.stop();
        DeviceMBeanRegistration m = mbean;
        mbean = null;
        if (m != null) {
            m.unregister();
        }
        LOG.info("device {}: removed", worker.id());
    }

    /** @return the configuration as {@link DeviceBinding} takes it; an invalid one carries the reason */
    static Config configOf(Map<String, Object> props) {
        Object dt = props.get(DeviceConfigKeys.DEVICE_TYPE);
        Object t = props.get(DeviceConfigKeys.TARGET);
        DeviceSettings settings = null;
        String error = null;
        try {
            settings = DeviceSettings.parse(props);
        } catch (IllegalArgumentException e) {
            error = "invalid configuration: " + e.getMessage();
        }
        return new Config(DeviceSettings.idOf(props), dt == null ? "blk" : dt.toString(), t == null ? null : t.toString(),
                settings, error);
    }

    /** DS bind of the {@code backend} reference (optional, dynamic, greedy). */
    @Reference(
            name = "backend",
            service = VhostOps.class,
            cardinality = ReferenceCardinality.OPTIONAL,
            policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY,
            unbind = "unbindBackend",
            updated = "updatedBackend")
    void bindBackend(VhostOps o, Map<String, Object> props) {
        worker.fire(new BackendAdded(backendOf(o, props)));
    }

    /** DS updated: the bound backend's properties changed (ranking, name). */
    void updatedBackend(VhostOps o, Map<String, Object> props) {
        worker.fire(new BackendModified(backendOf(o, props)));
    }

    /** DS unbind: returns once the driver is detached from (or closed with) {@code o}, bounded by 20 s. */
    void unbindBackend(VhostOps o, Map<String, Object> props) {
        worker.fire(new BackendRemoved(backendOf(o, props)));
    }

    /** DS bind of the {@code factory} reference (optional, dynamic, greedy). */
    @Reference(
            name = "factory",
            service = VirtioDriverFactory.class,
            cardinality = ReferenceCardinality.OPTIONAL,
            policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY,
            unbind = "unbindFactory")
    void bindFactory(VirtioDriverFactory f) {
        worker.fire(new FactoryAdded(new Factory(f, f.deviceType())));
    }

    /** DS unbind: returns once the driver {@code f} made is closed. */
    void unbindFactory(VirtioDriverFactory f) {
        worker.fire(new FactoryRemoved(new Factory(f, f.deviceType())));
    }

    private static Backend backendOf(VhostOps o, Map<String, Object> props) {
        Object type = props.get(VhostOps.BACKEND_TYPE);
        Object ranking = props.get(Constants.SERVICE_RANKING);
        return new Backend(o, backendNameOf(o, props), type == null ? null : type.toString(),
                ranking instanceof Integer r ? r : 0, props.get(Constants.SERVICE_ID));
    }

    /**
     * Operator's swap ({@code vhost:swap}): moves the running driver to {@code newOps} (a backend
     * service; null keeps the current one) at {@code newTarget} (null keeps the configured
     * target). Waits for the move, bounded (50 s).
     *
     * @return a one-line result
     * @throws VhostException when the device has no running driver or the move failed
     */
    @Override
    public String swap(VhostOps newOps, String newOpsName, String newTarget) throws VhostException {
        Backend to = newOps == null ? null
                : new Backend(newOps, newOpsName != null ? newOpsName : backendNameOf(newOps, null), null, 0, null);
        return worker.swap(to, newTarget);
    }

    @Override
    public byte[] snapshot() throws VhostException {
        return worker.snapshot();
    }

    @Override
    public String restore(byte[] snapshot) throws VhostException {
        return worker.restore(snapshot);
    }

    @Override
    public Map<String, Long> counters() {
        return worker.counters();
    }

    @Override
    public DeviceInfo info() {
        return worker.info();
    }

    @Override
    public <T> T api(Class<T> type) {
        return worker.api(type);
    }

    static String backendNameOf(VhostOps o, Map<String, Object> props) {
        Object n = props == null ? null : props.get(VhostOps.BACKEND_NAME);
        if (n != null) {
            return n.toString();
        }
        try {
            return o.name();
        } catch (RuntimeException e) {
            return "service " + (props == null ? "?" : props.get(Constants.SERVICE_ID));
        }
    }
}
