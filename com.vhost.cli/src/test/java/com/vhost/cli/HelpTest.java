package com.vhost.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * Every command's usage as picocli renders it: summaries are whole sentences (the top-level list
 * shows only the first description element, so one cut at ',' or ';' reads as a broken line),
 * every description element ends a sentence, and the main commands end with examples.
 */
class HelpTest {
    /** The commands that end their usage with an Examples section. */
    private static final Set<String> WITH_EXAMPLES = Set.of("vhost", "vhost run", "vhost daemon", "vhost rpc", "vhost serve blk",
            "vhost serve net", "vhost blk", "vhost blk bench", "vhost blk verify", "vhost net", "vhost net echo", "vhost net bench",
            "vhost backends", "vhost shell", "vhost bench", "vhost bench swap");

    private static List<CommandLine> all(CommandLine root) {
        List<CommandLine> out = new ArrayList<>();
        out.add(root);
        for (CommandLine sub : root.getSubcommands().values()) {
            out.addAll(all(sub));
        }
        return out;
    }

    @Test
    void everySummaryIsAWholeSentenceAndTheMainCommandsHaveExamples() {
        FakeServices services = new FakeServices();
        List<CommandLine> commands = all(VhostCli.commandLine(services));
        assertThat(commands).hasSizeGreaterThan(20);
        List<String> seen = new ArrayList<>();
        for (CommandLine c : commands) {
            String name = c.getCommandSpec().qualifiedName();
            seen.add(name);
            String[] description = c.getCommandSpec().usageMessage().description();
            assertThat(description).as(name + " has a description").isNotEmpty();
            for (String d : description) {
                String text = d.strip();
                assertThat(text).as(name + ": description element '" + text + "'").doesNotEndWith(",").doesNotEndWith(";")
                        .endsWith(".");
            }
            String usage = c.getUsageMessage(CommandLine.Help.Ansi.OFF);
            assertThat(usage).as(name).startsWith("Usage: " + name);
            if (WITH_EXAMPLES.contains(name)) {
                assertThat(usage).as(name + " examples").containsPattern("\\nExamples:\\n  (vhost|g!) ");
                for (String line : c.getCommandSpec().usageMessage().footer()) {
                    assertThat(line.replace("%n", "")).as(name + " example: no format specifier").doesNotContain("%");
                    assertThat(line.length()).as(name + " example '" + line + "' fits the 80-column usage unwrapped")
                            .isLessThanOrEqualTo(80);
                }
            }
        }
        assertThat(seen).containsAll(WITH_EXAMPLES);
        // the top-level list shows each command's first sentence whole
        String top = commands.get(0).getUsageMessage(CommandLine.Help.Ansi.OFF);
        assertThat(top.replaceAll("\\s+", " ")).contains("through the registry, verifies a short write/read workload and opens a Gogo shell.",
                "saying whether each node is usable.");
        // each entry of the list (its wrapped lines joined) ends its sentence
        List<String> entries = new ArrayList<>();
        for (String line : top.substring(top.indexOf("Commands:") + "Commands:".length(), top.indexOf("\nExamples:")).strip().split("\n")) {
            if (line.matches("  \\S.*") || entries.isEmpty()) {
                entries.add(line.strip());
            } else {
                entries.set(entries.size() - 1, entries.get(entries.size() - 1) + " " + line.strip());
            }
        }
        assertThat(entries).hasSize(commands.get(0).getSubcommands().size()).allMatch(e -> e.endsWith("."), "ends with '.'");
    }
}
