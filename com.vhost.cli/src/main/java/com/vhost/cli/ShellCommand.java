package com.vhost.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/** {@code vhost shell}: an interactive Gogo shell on the running platform. */
@Command(name = "shell", mixinStandardHelpOptions = true,
        description = "Opens an interactive Gogo shell (try vhost:devices, vhost:backends, lb); 'exit [CODE]' or Ctrl-D "
            + "leaves, and CODE (default 0) is the exit code.",
        footerHeading = "%nExamples:%n",
        footer = {"  vhost shell", "  g! vhost:devices", "  g! vhost:swap disk0 /tmp/other.sock"})
final class ShellCommand implements Callable<Integer> {
    private final CliServices services;

    ShellCommand(CliServices services) {
        this.services = services;
    }

    @Override
    public Integer call() throws Exception {
        services.watchFolders(null, null);
        return services.interactiveShell();
    }
}
