package com.vhost.registry;

import com.vhost.api.registry.DeviceConfigKeys;
import com.vhost.api.registry.DeviceRegistry;
import java.util.Dictionary;
import org.osgi.framework.FrameworkUtil;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.framework.ServiceReference;
import org.osgi.service.cm.ConfigurationPlugin;

/**
 * Derives the DS reference targets of a device component from its configuration, so that a
 * configuration only has to say {@code backend.type=user} and {@code device.type=blk}:
 * <ul>
 *   <li>{@code backend.target} becomes {@code (vhost.backend.type=<backend.type>)}, and-ed with the
 *       user's own {@code backend.target} filter when one is given (enRoute style);
 *   <li>{@code factory.target} becomes {@code (vhost.device.type=<device.type>)} unless given.
 * </ul>
 * Declarative Services reads device configurations through
 * {@code Configuration.getProcessedProperties}, which runs this plugin (Configuration Admin 1.6,
 * section 104.9). Only configurations of factory PID {@value DeviceRegistry#DEVICE_FACTORY_PID}
 * are touched; the stored configuration is never changed.
 */
final class TargetFilterPlugin implements ConfigurationPlugin {
    static final String FACTORY_PID_KEY = "service.factoryPid";

    @Override
    public void modifyConfiguration(ServiceReference<?> reference, Dictionary<String, Object> properties) {
        if (!DeviceRegistry.DEVICE_FACTORY_PID.equals(properties.get(FACTORY_PID_KEY))) {
            return;
        }
        apply(properties);
    }

    /** Adds or rewrites {@code backend.target} and {@code factory.target} in place. */
    static void apply(Dictionary<String, Object> properties) {
        Object bt = properties.get(DeviceConfigKeys.BACKEND_TYPE);
        String backendType = bt == null ? "user" : bt.toString().trim();
        Object user = properties.get(DeviceConfigKeys.BACKEND_TARGET);
        String userFilter = user == null ? null : user.toString();
        if (userFilter != null && !isValid(userFilter)) {
            // Left for the component to report as FAILED; DS gets a filter that still parses.
            userFilter = null;
        }
        String typeClause = DeviceSettings.backendFilter(backendType, null);
        if (userFilter == null || !userFilter.contains(typeClause)) {
            properties.put(DeviceConfigKeys.BACKEND_TARGET, DeviceSettings.backendFilter(backendType, userFilter));
        }
        if (properties.get(DeviceConfigKeys.FACTORY_TARGET) == null) {
            Object dt = properties.get(DeviceConfigKeys.DEVICE_TYPE);
            properties.put(DeviceConfigKeys.FACTORY_TARGET, DeviceSettings.factoryFilter(dt == null ? "blk" : dt.toString().trim()));
        }
    }

    private static boolean isValid(String filter) {
        try {
            FrameworkUtil.createFilter(filter);
            return true;
        } catch (InvalidSyntaxException e) {
            return false;
        }
    }
}
