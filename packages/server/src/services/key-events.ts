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

type Listener = (change: KeyChange) => void;

/** Announces a change to the other nodes inside its transaction (see {@link KeyEvents.announce}). */
export type Announcer = (trx: Transaction<Database>, change: KeyChange) => Promise<void>;

/**
 * In-process fan-out of key changes. A change is told twice:
 * - `announce(trx, change)` inside its transaction, before it commits: on PostgreSQL a NOTIFY
 *   in that transaction, which the other nodes receive if and only if it commits, so a node
 *   that dies right after committing cannot leave them serving the old state;
 * - `emit(change)` right after the commit (not before: a node must not reload the old state),
 *   which applies it on this node at once (and the PostgreSQL bus announces it once more on its
 *   own connection: a change whose `announce` was forgotten still reaches the other nodes).
 */
export class KeyEvents {
  private listeners = new Set<Listener>();
  private announcer: Announcer | null = null;

  /** Sets how changes are announced inside their transactions (the PostgreSQL bus); returns the undo. */
  announceWith(announcer: Announcer): () => void {
    this.announcer = announcer;
    return () => {
      if (this.announcer === announcer) this.announcer = null;
    };
  }

  /** Call inside the change's transaction, before it commits; emit it after the commit too. */
  async announce(trx: Transaction<Database>, change: KeyChange): Promise<void> {
    if (this.announcer) await this.announcer(trx, change);
  }

  on(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(change: KeyChange): void {
    for (const l of this.listeners) l(change);
  }
}
