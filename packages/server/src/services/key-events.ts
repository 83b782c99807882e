import type { Transaction } from "kysely";
import type { Database } from "../store/schema.js";

/**
 * A change that may alter how some API keys resolve: the key itself, its owner's grants,
 * or its org's policy. Verification caches listen and drop what the change touches.
 */
export type KeyChange =
  | { kind: "key"; keyId: string }
  | { kind: "principal"; orgId: string; principalId: string }
  | { kind: "org"; orgId: string };

/** `announced`: the change was also announced inside its transaction (see {@link KeyEvents}). */
type Listener = (change: KeyChange, announced: boolean) => void;

/** Announces a change to the other nodes inside its transaction (see {@link KeyEvents.announce}). */
export type Announcer = (trx: Transaction<Database>, change: KeyChange) => Promise<void>;

/** One string per change (the same change made twice gives the same string). */
const changeId = (c: KeyChange) =>
  c.kind === "key" ? `key ${c.keyId}` : c.kind === "org" ? `org ${c.orgId}` : `principal ${c.orgId} ${c.principalId}`;

/**
 * Announcements whose emit never came (each a transaction that announced and then failed to
 * commit) are forgotten past this many. Such a leftover can only make a later emit of the same
 * change that was not announced (a bug) look announced, so that its copy is not sent.
 */
const MAX_PENDING = 10_000;

/**
 * In-process fan-out of key changes. A change is told twice:
 * - `announce(trx, change)` inside its transaction, before it commits: on PostgreSQL a NOTIFY
 *   in that transaction, which the other nodes receive if and only if it commits, so a node
 *   that dies right after committing cannot leave them serving the old state;
 * - `emit(change)` right after the commit (not before: a node must not reload the old state),
 *   which applies it on this node at once. Listeners learn whether it was announced: the
 *   PostgreSQL bus announces an unannounced one on its own connection (and counts it as a
 *   bug), so a change whose `announce` was forgotten still reaches the other nodes.
 */
export class KeyEvents {
  private listeners = new Set<Listener>();
  private announcer: Announcer | null = null;
  /** Changes announced in a transaction whose emit has not come yet, by {@link changeId}: how many. */
  private pending = new Map<string, number>();

  /** Sets how changes are announced inside their transactions (the PostgreSQL bus); returns the undo. */
  announceWith(announcer: Announcer): () => void {
    this.announcer = announcer;
    return () => {
      if (this.announcer === announcer) this.announcer = null;
    };
  }

  /** Call inside the change's transaction, before it commits; emit it after the commit too. */
  async announce(trx: Transaction<Database>, change: KeyChange): Promise<void> {
    if (!this.announcer) return;
    await this.announcer(trx, change);
    if (this.pending.size >= MAX_PENDING) this.pending.clear();
    const id = changeId(change);
    this.pending.set(id, (this.pending.get(id) ?? 0) + 1);
  }

  on(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Applies a committed change on this node (after its transaction announced it, if any). */
  emit(change: KeyChange): void {
    const id = changeId(change);
    const n = this.pending.get(id) ?? 0;
    if (n > 1) this.pending.set(id, n - 1);
    else if (n === 1) this.pending.delete(id);
    for (const l of this.listeners) l(change, n > 0);
  }
}
