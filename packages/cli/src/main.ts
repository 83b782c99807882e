import { KeywardError } from "@keyward/sdk";
import { Command, CommanderError, Option } from "commander";
import { adminCommand, migrateCommand, serveCommand } from "./commands/local.js";
import { loginCommand, logoutCommand, passwordCommand, profilesCommand, whoamiCommand } from "./commands/auth.js";
import { completionCommand } from "./commands/completion.js";
import { keysCommand } from "./commands/keys.js";
import {
  auditCommand,
  membersCommand,
  orgsCommand,
  permissionsCommand,
  projectsCommand,
  rolesCommand,
  serviceAccountsCommand,
} from "./commands/resources.js";
import { tokenCommand, verifyCommand } from "./commands/verify.js";
import { printable } from "./output.js";
import { UsageError } from "./parse.js";

/** Exit codes: 0 ok, 1 the API refused or failed (or a key was refused), 2 bad arguments. */
export const EXIT = { ok: 0, api: 1, usage: 2 } as const;

export function buildProgram(json = false): Command {
  const program = new Command("keyward")
    .description("Keyward: API keys, orgs, projects and service accounts from the command line")
    .version("0.1.0", "-V, --version")
    .addOption(new Option("--json", "print JSON (for scripts)"))
    .addOption(new Option("--profile <name>", "credentials profile (default: the current one, or KEYWARD_PROFILE)"))
    .addOption(new Option("--url <url>", "Keyward base URL (overrides the profile; KEYWARD_URL)"))
    .addOption(new Option("--org <orgId>", "organization (overrides the profile's; KEYWARD_ORG)"))
    .exitOverride()
    .showSuggestionAfterError()
    .configureHelp({ sortSubcommands: false })
    .addHelpText(
      "after",
      `
Environment: KEYWARD_URL, KEYWARD_API_KEY (a key used instead of the profile's credentials),
KEYWARD_PROFILE, KEYWARD_ORG, NO_COLOR. Exit codes: 0 ok, 1 API error, 2 bad arguments.

Examples:
  $ keyward login --url http://localhost:8080 --email owner@example.com
  $ keyward keys create ci --permission compute:read --expires 30d
  $ keyward keys list --json
  $ keyward keys regenerate key_123 --grace 1h`,
    );

  const commands = [
    serveCommand(),
    migrateCommand(),
    adminCommand(),
    loginCommand(),
    logoutCommand(),
    passwordCommand(),
    whoamiCommand(),
    profilesCommand(),
    keysCommand(),
    orgsCommand(),
    projectsCommand(),
    serviceAccountsCommand(),
    membersCommand(),
    rolesCommand(),
    permissionsCommand(),
    auditCommand(),
    verifyCommand(),
    tokenCommand(),
    completionCommand(() => program),
  ];
  for (const cmd of commands) program.addCommand(cmd);
  // exitOverride is inherited only by commands created through .command(); apply it everywhere.
  const walk = (c: Command) => {
    c.exitOverride();
    c.showSuggestionAfterError();
    // With --json, the parser's own errors are JSON on stderr too, as every other error is.
    if (json)
      c.configureOutput({
        outputError: (message, write) =>
          write(`${JSON.stringify({ error: { code: "USAGE", detail: message.replace(/^error: /, "").trim() } })}\n`),
      });
    for (const sub of c.commands) walk(sub);
  };
  walk(program);
  return program;
}

export async function run(argv: string[]): Promise<number> {
  const json = argv.includes("--json");
  const program = buildProgram(json);
  try {
    await program.parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.ok;
  } catch (err) {
    return report(err, json);
  }
}

function report(err: unknown, json: boolean): number {
  if (err instanceof CommanderError) {
    // Commander already printed its message (or the help).
    if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.exitCode === 0)
      return EXIT.ok;
    return EXIT.usage;
  }
  if (err instanceof UsageError) {
    if (json) process.stderr.write(`${JSON.stringify({ error: { code: "USAGE", detail: err.message } })}\n`);
    else process.stderr.write(`error: ${err.message}\n`);
    return EXIT.usage;
  }
  if (err instanceof KeywardError) {
    const retryAfter = err.retryAfter ? { retryAfter: err.retryAfter } : {};
    if (json) process.stderr.write(`${JSON.stringify({ error: { ...err.toJSON(), ...retryAfter } })}\n`);
    else {
      process.stderr.write(`error: ${printable(err.detail)} (${err.code}, HTTP ${err.status})\n`);
      if (err.retryAfter) process.stderr.write(`retry after ${err.retryAfter}s\n`);
      for (const f of err.errors)
        process.stderr.write(`  ${printable(f.path || "(request)")}: ${printable(f.message)}\n`);
      if (err.code === "UNAUTHENTICATED" && !process.env.KEYWARD_API_KEY)
        process.stderr.write("hint: sign in with `keyward login`\n");
    }
    return EXIT.api;
  }
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const network = e instanceof TypeError && /fetch failed/i.test(e.message);
  const detail = network ? `cannot reach Keyward: ${e.cause?.message ?? e.message}` : (e?.message ?? String(err));
  if (json) process.stderr.write(`${JSON.stringify({ error: { code: network ? "UNREACHABLE" : "ERROR", detail } })}\n`);
  else process.stderr.write(`error: ${detail}\n`);
  if (!network && process.env.KEYWARD_DEBUG) process.stderr.write(`${e?.stack}\n`);
  return EXIT.api;
}
