import Table from "cli-table3";

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  json: boolean;
  colour: boolean;
  isTTY: boolean;
}

export function defaultIo(json: boolean): Io {
  const isTTY = Boolean(process.stdout.isTTY);
  const colour = isTTY && !process.env.NO_COLOR && process.env.TERM !== "dumb";
  return {
    out: (s) => process.stdout.write(s.endsWith("\n") ? s : `${s}\n`),
    err: (s) => process.stderr.write(s.endsWith("\n") ? s : `${s}\n`),
    json,
    colour,
    isTTY,
  };
}

const ansi = (code: string) => (io: Io, s: string) => (io.colour ? `\u001b[${code}m${s}\u001b[0m` : s);
export const bold = ansi("1");
export const dim = ansi("2");
export const red = ansi("31");
export const green = ansi("32");
export const yellow = ansi("33");

export type Column<T> = [header: string, get: (row: T) => unknown];

/**
 * Text from the API made safe for a terminal: control characters (escape sequences that clear
 * the screen, retitle the window or write the clipboard) are shown as `\xNN`, not run.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
export const printable = (s: string) =>
  s.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);

export function cell(v: unknown): string {
  if (v === null || v === undefined || v === "") return "-";
  if (Array.isArray(v)) return v.length ? v.map(cell).join(", ") : "-";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "object") return JSON.stringify(v); // JSON escapes control characters
  return printable(String(v));
}

/** Widest a table column gets before its text wraps (long permission lists, descriptions). */
const MAX_COLUMN = 60;

export function printTable<T>(io: Io, rows: T[], columns: Column<T>[]): void {
  const cells = rows.map((row) => columns.map(([, get]) => cell(get(row))));
  const colWidths = columns.map(([h], i) =>
    Math.min(MAX_COLUMN, Math.max(h.length, ...cells.map((r) => r[i].length)) + 2),
  );
  const table = new Table({
    head: columns.map(([h]) => h),
    style: io.colour ? { head: ["cyan"], border: ["grey"] } : { head: [], border: [] },
    colWidths,
    wordWrap: true,
  });
  for (const r of cells) table.push(r);
  io.out(table.toString());
}

/** One record as `field  value` lines. */
export function printRecord(io: Io, record: Record<string, unknown>, fields?: [label: string, value: unknown][]): void {
  const entries = fields ?? Object.entries(record);
  const width = Math.max(...entries.map(([k]) => k.length));
  for (const [k, v] of entries) io.out(`${bold(io, k.padEnd(width))}  ${cell(v)}`);
}

/** Lists: JSON prints `{items, nextCursor}`; tables print rows and a hint for the next page. */
export function printList<T>(io: Io, page: { items: T[]; nextCursor?: string | null }, columns: Column<T>[]): void {
  if (io.json) {
    printJson(io, page);
    return;
  }
  if (page.items.length === 0) io.out(dim(io, "(none)"));
  else printTable(io, page.items, columns);
  if (page.nextCursor) io.err(dim(io, `more: --cursor ${page.nextCursor}`));
}

export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
}
