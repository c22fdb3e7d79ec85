package com.vhost.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * A command that only groups subcommands ({@code vhost}, {@code vhost blk}, {@code vhost net},
 * {@code vhost serve}, {@code vhost bench}): run without one, it prints its usage to standard
 * error and exits with 2, picocli's usage-error code.
 */
abstract class ParentCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return 2;
    }
}
