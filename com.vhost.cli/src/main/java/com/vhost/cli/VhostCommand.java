package com.vhost.cli;

import picocli.CommandLine.Command;

/** {@code vhost}: the top-level command. Without a subcommand it prints the usage. */
@Command(
        name = "vhost",
        mixinStandardHelpOptions = true,
        version = "vhost-platform 0.1.0",
        description = "vhost front-ends, back-ends and VirtIO devices in Java, on OSGi.",
        subcommands = {RunCommand.class, DaemonCommand.class, RpcCommand.class, ServeCommand.class, BlkCommand.class, NetCommand.class, BackendsCommand.class,
            ShellCommand.class, BenchCommand.class})
public final class VhostCommand extends ParentCommand {
}
