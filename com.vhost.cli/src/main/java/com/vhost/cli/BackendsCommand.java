package com.vhost.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/** {@code vhost backends}: the VhostOps services this platform has (the registry's table). */
@Command(name = "backends", mixinStandardHelpOptions = true,
        description = "Lists the vhost backends (VhostOps services): name, type, ranking, service id, bundle.")
final class BackendsCommand implements Callable<Integer> {
    private final CliServices services;

    BackendsCommand(CliServices services) {
        this.services = services;
    }

    @Override
    public Integer call() {
        Tables.backends(services.registry().backends(), services.out());
        return 0;
    }
}
