package com.vhost.cli;

import java.io.PrintWriter;
import java.lang.reflect.Constructor;
import picocli.CommandLine;
import picocli.CommandLine.IFactory;

/** Builds the picocli command tree over {@link CliServices} and runs one command line. */
public final class VhostCli {
    /**
     * Exit code of a command that failed; usage errors (picocli's own and {@link UsageException})
     * exit with 2.
     */
    public static final int EXIT_FAILURE = 1;

    private VhostCli() {}

    /** @return the command line, its commands constructed with {@code services} */
    public static CommandLine commandLine(CliServices services) {
        CommandLine cl = new CommandLine(VhostCommand.class, new ServicesFactory(services));
        cl.setOut(services.out());
        cl.setErr(services.err());
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setExecutionExceptionHandler((ex, line, parsed) -> {
            PrintWriter err = line.getErr();
            err.println(line.getCommandSpec().qualifiedName() + ": " + message(ex));
            if (ex instanceof UsageException) {
                err.println("Try '" + line.getCommandSpec().qualifiedName() + " --help' for more information.");
                err.flush();
                return CommandLine.ExitCode.USAGE;
            }
            if (!(ex instanceof IllegalArgumentException) && !(ex instanceof IllegalStateException)
                    && !(ex instanceof com.vhost.api.VhostException)) {
                ex.printStackTrace(err);
            }
            err.flush();
            return EXIT_FAILURE;
        });
        return cl;
    }

    /** Runs {@code args}; returns the exit code (0 success, 1 failure, 2 usage error). */
    public static int execute(CliServices services, String... args) {
        int code = commandLine(services).execute(args);
        services.out().flush();
        services.err().flush();
        return code;
    }

    static String message(Throwable t) {
        String m = t.getMessage();
        return m == null || m.isBlank() ? t.toString() : m;
    }

    /** Gives each command class that has a {@code (CliServices)} constructor the services. */
    private record ServicesFactory(CliServices services) implements IFactory {
        @Override
        public <K> K create(Class<K> cls) throws Exception {
            try {
                Constructor<K> c = cls.getDeclaredConstructor(CliServices.class);
                c.setAccessible(true);
                return c.newInstance(services);
            } catch (NoSuchMethodException e) {
                return CommandLine.defaultFactory().create(cls);
            }
        }
    }
}
