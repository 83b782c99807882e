import type { Command } from "commander";
import { expect, it } from "vitest";
import { buildProgram } from "../src/main.js";

function all(cmd: Command, path: string[] = []): [string, Command][] {
  return cmd.commands.flatMap((c) => [
    [[...path, c.name()].join(" "), c] as [string, Command],
    ...all(c, [...path, c.name()]),
  ]);
}

it("every command has --help with examples", () => {
  const program = buildProgram();
  const commands = all(program).filter(([name]) => name !== "help");
  expect(commands.length).toBeGreaterThan(40);
  for (const [name, cmd] of commands) {
    let text = "";
    cmd.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
    cmd.outputHelp();
    expect(text, name).toContain("Examples:");
    expect(text, name).toMatch(/Examples:\n {2}\$ \S/);
  }
});
