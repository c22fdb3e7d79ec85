package com.vhost.cli;

import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.util.List;
import org.apache.felix.service.command.CommandProcessor;
import org.apache.felix.service.command.CommandSession;
import org.apache.felix.service.command.Function;

/**
 * An interactive Gogo session ({@code gosh --login --noshutdown}) on the process's own stdin,
 * stdout and stderr, with its own {@code exit [CODE]}. Gogo's profile makes the static methods of
 * {@link System} commands, so a plain {@code exit 0} was {@code System.exit}: the JVM's shutdown
 * stopped the framework under the shell, which printed {@code gogo: InterruptedException} and left
 * the command with a stopped framework ({@code Invalid BundleContext}). Here {@code exit} (a
 * session function, found before commands) ends the input instead, so the console returns as at
 * end of input and the command that opened the shell finishes normally.
 */
final class GogoShell {
    private GogoShell() {}

    /**
     * Runs the session until {@code exit} or the end of standard input.
     *
     * @return the code given to {@code exit} (0 without one, and at the end of input)
     * @throws Exception when the session cannot run {@code gosh}
     */
    static int run(CommandProcessor processor) throws Exception {
        Keyboard keyboard = new Keyboard(new FileInputStream(FileDescriptor.in));
        // The process's own descriptors: once Gogo runs, System.out is its per-thread ThreadPrintStream,
        // which would route the session's output back into itself.
        CommandSession session = processor.createSession(keyboard, new PrintStream(new FileOutputStream(FileDescriptor.out), true),
                new PrintStream(new FileOutputStream(FileDescriptor.err), true));
        int[] code = {0};
        session.put("exit", exitFunction(keyboard, code));
        try {
            session.execute("gosh --login --noshutdown");
        } finally {
            session.close();
            Thread.interrupted(); // a command may have been interrupted; the caller's cleanup still has to run
        }
        return code[0];
    }

    /** @return {@code exit [CODE]}: records CODE (an integer, default 0) in {@code code[0]} and ends {@code keyboard} */
    static Function exitFunction(Keyboard keyboard, int[] code) {
        return (session, arguments) -> {
            code[0] = exitCode(arguments);
            keyboard.end();
            return null;
        };
    }

    /**
     * @return the exit code in {@code arguments}: none is 0, one integer is itself
     * @throws IllegalArgumentException for anything else (the shell goes on)
     */
    static int exitCode(List<Object> arguments) {
        if (arguments.isEmpty()) {
            return 0;
        }
        try {
            if (arguments.size() == 1) {
                return Integer.parseInt(String.valueOf(arguments.get(0)).trim());
            }
        } catch (NumberFormatException e) {
            // refused below
        }
        throw new IllegalArgumentException("usage: exit [CODE], CODE an integer (got " + arguments + ")");
    }

    /** Standard input until {@link #end()}; then end of input, as after Ctrl-D. */
    static final class Keyboard extends InputStream {
        private final InputStream in;
        private volatile boolean ended;

        Keyboard(InputStream in) {
            this.in = in;
        }

        /** Makes every further read return end of input. */
        void end() {
            ended = true;
        }

        @Override
        public int read() throws IOException {
            return ended ? -1 : in.read();
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            return ended ? -1 : in.read(b, off, len);
        }

        @Override
        public int available() throws IOException {
            return ended ? 0 : in.available();
        }
    }
}
