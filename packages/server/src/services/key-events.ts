/**
 * A change that may alter how some API keys resolve: the key itself, its owner's grants,
 * or its org's policy. Verification caches listen and drop what the change touches.
 */
export type KeyChange =
  | { kind: "key"; keyId: string }
  | { kind: "principal"; orgId: string; principalId: string }
  | { kind: "org"; orgId: string };

type Listener = (change: KeyChange) => void;

/**
 * In-process fan-out of key changes. Emit right after the change's transaction commits (not
 * before: a node must not reload the old state). On PostgreSQL the invalidation bus announces
 * each emitted change to the other nodes at once on its own connection, so the gap between the
 * commit and the emit is the window in which other nodes may still serve the old state.
 */
export class KeyEvents {
  private listeners = new Set<Listener>();

  on(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(change: KeyChange): void {
    for (const l of this.listeners) l(change);
  }
}
