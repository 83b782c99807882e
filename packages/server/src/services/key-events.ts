/**
 * A change that may alter how some API keys resolve: the key itself, its owner's grants,
 * or its org's policy. Verification caches listen and drop what the change touches.
 */
export type KeyChange =
  | { kind: "key"; keyId: string }
  | { kind: "principal"; orgId: string; principalId: string }
  | { kind: "org"; orgId: string };

type Listener = (change: KeyChange) => void;

/** In-process fan-out of key changes. Emit after the change's transaction commits. */
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
