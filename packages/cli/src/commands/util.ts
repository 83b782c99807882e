import { type Command, Option } from "commander";
import { type Ctx, makeCtx } from "../context.js";
import { UsageError } from "../parse.js";

/** Wraps an action: builds the context from the command's options. Args arrive as commander passes them. */
// biome-ignore lint/suspicious/noExplicitAny: commander passes positional args then the options object
export function act(fn: (ctx: Ctx, ...args: any[]) => Promise<void> | void) {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    await fn(makeCtx(cmd), ...args.slice(0, -1));
  };
}

export function examples(cmd: Command, lines: string[]): Command {
  return cmd.addHelpText("after", `\nExamples:\n${lines.map((l) => `  $ ${l}`).join("\n")}\n`);
}

export const listOptions = (cmd: Command) =>
  cmd
    .option("--limit <n>", "page size (1-200)")
    .option("--cursor <cursor>", "continue from a previous page's nextCursor")
    .option("--all", "fetch every page");

/** Asks before destroying something, unless --yes; refuses without a terminal. */
export async function confirm(ctx: Ctx, what: string, yes: boolean | undefined): Promise<boolean> {
  if (yes) return true;
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new UsageError(`Refusing to delete ${what} without confirmation: pass --yes`);
  }
  const { confirm: ask, isCancel } = await import("@clack/prompts");
  const answer = await ask({ message: `Delete ${what}? This cannot be undone.`, initialValue: false });
  if (isCancel(answer) || !answer) {
    ctx.io.err("Cancelled.");
    return false;
  }
  return true;
}

export const jsonOption = () => new Option("--json", "print JSON (for scripts)");

/** All of stdin as text, without its final line break (for secrets kept out of argv). */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
}

/** A secret given as an argument, or `-` to read it from stdin (out of `ps` and shell history). */
export const secretArgument = async (arg: string) => (arg === "-" ? readStdin() : arg);
