package com.vhost.registry;

import java.util.Dictionary;
import java.util.Hashtable;
import org.osgi.framework.BundleActivator;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceRegistration;
import org.osgi.service.cm.ConfigurationPlugin;

/**
 * Registers the {@link TargetFilterPlugin} while the bundle is STARTING, that is before Declarative
 * Services reads this bundle's components (it waits for ACTIVE), so no device configuration
 * reaches a device component without its derived reference targets.
 */
public final class Activator implements BundleActivator {
    private ServiceRegistration<ConfigurationPlugin> registration;

    @Override
    public void start(BundleContext context) {
        Dictionary<String, Object> props = new Hashtable<>();
        // Run early; other plugins see the derived targets.
        props.put(ConfigurationPlugin.CM_RANKING, 0);
        props.put("service.description", "vhost device reference targets from backend.type and device.type");
        registration = context.registerService(ConfigurationPlugin.class, new TargetFilterPlugin(), props);
    }

    @Override
    public void stop(BundleContext context) {
        if (registration != null) {
            registration.unregister();
            registration = null;
        }
    }
}
