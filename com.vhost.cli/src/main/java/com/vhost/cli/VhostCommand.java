package com.vhost.cli;

import picocli.CommandLine.Command;

/** {@code vhost}: the top-level command. Without a subcommand it prints the usage. */
@Command(
        name = "vhost",
        mixinStandardHelpOptions = true,
        version = "vhost-platform 0.1.0",
        description = "vhost front-ends, back-ends and VirtIO devices in Java, on OSGi.",
        footerHeading = "%nExamples:%n",
        footer = {"  vhost run",
            "  vhost serve blk --socket /tmp/vub.sock --memory 1G &",
            "  vhost blk bench --socket /tmp/vub.sock --iodepth 32 --seconds 10",
            "  vhost blk info --socket /tmp/vub.sock --json",
            "  vhost daemon & vhost rpc device_list",
            "%nEvery command has --help. Sizes: 4k, 64M, 1G. Durations: 30, 500ms, 5s, 2m.",
            "A number alone is seconds."},
        subcommands = {RunCommand.class, DaemonCommand.class, RpcCommand.class, ServeCommand.class, BlkCommand.class, NetCommand.class, BackendsCommand.class,
            ShellCommand.class, BenchCommand.class})
public final class VhostCommand extends ParentCommand {
}
