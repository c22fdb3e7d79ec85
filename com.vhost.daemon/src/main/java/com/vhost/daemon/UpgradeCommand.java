package com.vhost.daemon;

import com.vhost.api.backend.BackendServer;
import java.nio.file.Path;
import java.util.Map;
import org.osgi.framework.BundleContext;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;

/**
 * The Gogo command {@code vhost:upgrade BUNDLE JAR}: the control socket's {@code bundle_update}
 * in a shell ({@code vhost shell}, {@code vhost run}): a live upgrade of a device bundle under
 * the back-ends this process serves ({@link BundleUpdates}). Returns the result map (a script can
 * use it); a refused or failed update throws, naming why.
 */
@Component(service = UpgradeCommand.class, property = {"osgi.command.scope=vhost", "osgi.command.function=upgrade"})
public final class UpgradeCommand {
    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC)
    private volatile BackendServer server;

    private BundleUpdates updates;

    @Activate
    void activate(BundleContext context) {
        updates = new BundleUpdates(context, () -> server, null);
    }

    /**
     * @param bundle the symbolic name of the installed bundle, e.g. {@code com.vhost.devices.blk}
     * @param jar the path of the new build
     * @return {symbolic_name, from, to, update_ms, backends}
     * @throws Exception the refusal or failure, as the control socket reports it
     */
    public Map<String, Object> upgrade(String bundle, String jar) throws Exception {
        return updates.update(bundle, Path.of(jar));
    }
}
