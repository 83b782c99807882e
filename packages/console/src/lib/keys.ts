import type { ApiKey } from "../api/types";

/** Pure helpers for the keys table: status, search, sort, pages. */

export type KeyStatus = "active" | "disabled" | "expired";

export function keyStatus(key: Pick<ApiKey, "status" | "expiresAt">, now: Date): KeyStatus {
  if (key.status === "disabled") return "disabled";
  if (key.expiresAt && new Date(key.expiresAt).getTime() <= now.getTime()) return "expired";
  return "active";
}

export type SortField = "name" | "createdAt" | "lastUsedAt" | "expiresAt" | "status";
export interface Sort {
  field: SortField;
  dir: "asc" | "desc";
}

/** Case-insensitive search over name, description, start, id, owner and restrictions. */
export function searchKeys(keys: readonly ApiKey[], q: string, ownerName: (k: ApiKey) => string = () => ""): ApiKey[] {
  const needle = q.trim().toLowerCase();
  if (!needle) return [...keys];
  return keys.filter((k) =>
    [k.name, k.description, k.start, k.id, ownerName(k), ...(k.allowedIps ?? []), ...(k.permissions ?? [])]
      .filter(Boolean)
      .some((s) => String(s).toLowerCase().includes(needle)),
  );
}

export function sortKeys(keys: readonly ApiKey[], sort: Sort, now = new Date()): ApiKey[] {
  const val = (k: ApiKey): string => {
    // Status as the table shows it: an expired key apart from the active ones.
    const v = sort.field === "status" ? keyStatus(k, now) : k[sort.field];
    return v == null ? "" : String(v).toLowerCase();
  };
  const out = [...keys].sort((a, b) => {
    const x = val(a);
    const y = val(b);
    // Missing values (never used, never expires) sort last either way.
    if (x === "" && y !== "") return 1;
    if (y === "" && x !== "") return -1;
    return x < y ? -1 : x > y ? 1 : 0;
  });
  if (sort.dir === "desc") {
    const blanks = out.filter((k) => val(k) === "");
    return [...out.filter((k) => val(k) !== "").reverse(), ...blanks];
  }
  return out;
}

export function pageOf<T>(
  items: readonly T[],
  page: number,
  size: number,
): { items: T[]; pages: number; page: number } {
  const pages = Math.max(1, Math.ceil(items.length / size));
  const p = Math.min(Math.max(1, page), pages);
  return { items: items.slice((p - 1) * size, p * size), pages, page: p };
}
