package com.vhost.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code vhost}: the top-level command. Without a subcommand it prints the usage. */
@Command(
        name = "vhost",
        mixinStandardHelpOptions = true,
        version = "vhost-platform 0.1.0",
        description = "vhost front-ends, back-ends and VirtIO devices in Java, on OSGi.",
        subcommands = {RunCommand.class, ServeCommand.class, BlkCommand.class, NetCommand.class, BackendsCommand.class,
            ShellCommand.class, BenchCommand.class})
public final class VhostCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return 2;
    }
}
