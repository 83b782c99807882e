import type { KeyChange } from "../key-events.js";
import type { InvalidationBus } from "./invalidation.js";

/**
 * What the cache needs to know about a value to find it again when something changes. The
 * cache asks `tagsOf` for them whenever it needs them rather than storing them, so a value
 * must give the same tags for as long as it is cached (a cached key's id, org and owner never
 * change: a change to any of them is a new value, loaded after an invalidation).
 */
export interface CacheTags {
  keyId: string;
  orgId: string;
  /** The principal whose grants the value depends on (owner user, service account or project). */
  principalId: string;
}

export interface KeyCacheOptions {
  /** Most resolved keys held; past it, the oldest not used since it was last passed over goes first. */
  maxEntries: number;
  /** Most "no such key" answers held. */
  maxNegative: number;
  /** Staleness cap (ms) when change notifications may be late or lost. */
  freshnessMs: number;
  /**
   * Safety net: an entry is reloaded after this long (ms) even when nothing was heard. An entry
   * still in use is reloaded in the background a little before (see {@link KeyCache.get}).
   */
  maxAgeMs: number;
  /** How long a "no such key" answer is trusted (ms). */
  negativeTtlMs: number;
  clock: () => number;
}

const DEFAULTS: KeyCacheOptions = {
  maxEntries: 100_000,
  maxNegative: 20_000,
  freshnessMs: 5_000,
  maxAgeMs: 10 * 60_000,
  negativeTtlMs: 30_000,
  clock: Date.now,
};

interface Entry<V> {
  value: V;
  loadedAt: number;
  /** From when a hit also reloads the entry in the background: 75-95 % of the max age, at random. */
  refreshAt: number;
  /** Hit since the eviction last passed it over (see {@link KeyCache.evictOne}). */
  used: boolean;
}

/** Entries an eviction looks at, oldest first, before it drops one that was used anyway. */
const SECOND_CHANCES = 8;

/** A load in flight, and the invalidation generation it started in. */
interface Inflight<V> {
  generation: number;
  promise: Promise<V | null>;
}

/**
 * Cache ids by a tag's value. Most values tag one entry (a key's id: its current secret), so
 * a lone id is held as it is; a Set is made only for a second one. A Set per cached key cost
 * more memory than the rest of the index.
 */
type Index = Map<string, string | Set<string>>;

function addTo(index: Index, name: string, id: string) {
  const held = index.get(name);
  if (held === undefined) index.set(name, id);
  else if (typeof held !== "string") held.add(id);
  else if (held !== id) index.set(name, new Set([held, id]));
}

function removeFrom(index: Index, name: string, id: string) {
  const held = index.get(name);
  if (held === id) index.delete(name);
  else if (held !== undefined && typeof held !== "string") {
    held.delete(id);
    if (held.size === 0) index.delete(name);
  }
}

/** The ids an index holds under `name` (a copy: the caller may remove them as it goes). */
function idsIn(index: Index, name: string): string[] {
  const held = index.get(name);
  return held === undefined ? [] : typeof held === "string" ? [held] : [...held];
}

const principalOf = (t: { orgId: string; principalId: string }) => `${t.orgId}/${t.principalId}`;

/**
 * Bounded cache of resolved keys by secret hash, plus a bounded negative cache, kept right
 * by an {@link InvalidationBus}. Loads are single-flight per hash, and a load that overlaps
 * an invalidation is returned but not cached (it may have read the old state).
 *
 * @example
 * const cache = new KeyCache(bus, (v) => ({ keyId: v.id, orgId: v.orgId, principalId: v.ownerId }));
 * const key = await cache.get(hash, (h) => resolver.resolveHash(h));
 */
export class KeyCache<V> {
  private readonly opts: KeyCacheOptions;
  private entries = new Map<string, Entry<V>>();
  private negative = new Map<string, number>();
  private byKey: Index = new Map();
  private byPrincipal: Index = new Map();
  private byOrg: Index = new Map();
  private inflight = new Map<string, Inflight<V>>();
  /** Bumped on every invalidation: a load that saw it change must not be cached. */
  private generation = 0;
  private unsubscribe: () => void;
  /** `loads`: calls of the loader (a miss joined to one in flight is not one; a refresh is). */
  readonly stats = { hits: 0, misses: 0, negativeHits: 0, invalidations: 0, refreshes: 0, evictions: 0, loads: 0 };

  constructor(
    private readonly bus: InvalidationBus,
    private readonly tagsOf: (value: V) => CacheTags,
    opts: Partial<KeyCacheOptions> = {},
  ) {
    this.opts = { ...DEFAULTS, ...opts };
    this.unsubscribe = bus.subscribe({ change: (c) => this.invalidate(c), reset: () => this.clear() });
  }

  get size() {
    return this.entries.size;
  }

  private usable(loadedAt: number, now: number): boolean {
    if (now - loadedAt > this.opts.maxAgeMs) return false;
    return now - Math.max(loadedAt, this.bus.freshAsOf()) <= this.opts.freshnessMs;
  }

  /**
   * The usable entry for `id`, null for a cached "no such key", undefined when absent; drops
   * what is too old on the way.
   */
  private lookup(id: string, now: number): Entry<V> | null | undefined {
    const e = this.entries.get(id);
    if (e) {
      if (this.usable(e.loadedAt, now)) return e;
      this.remove(id);
      return undefined;
    }
    const neg = this.negative.get(id);
    if (neg !== undefined) {
      if (neg > now && this.usable(neg - this.opts.negativeTtlMs, now)) return null;
      this.negative.delete(id);
    }
    return undefined;
  }

  /** The cached value, or undefined when absent or too old; null for a cached "no such key". Changes nothing. */
  peek(id: string): V | null | undefined {
    const e = this.lookup(id, this.opts.clock());
    return e ? e.value : e;
  }

  /**
   * {@link get} without a loader, for a hot path that would otherwise make a closure per call:
   * the cached value, counted as a hit and marked used, or undefined when absent, too old or due
   * for its background reload (then call `get`, which answers from the cache at once and
   * reloads); null for a cached "no such key".
   */
  hit(id: string): V | null | undefined {
    const now = this.opts.clock();
    const e = this.lookup(id, now);
    if (e === null) {
      this.stats.negativeHits++;
      return null;
    }
    if (e === undefined || (now >= e.refreshAt && !this.inflight.has(id))) return undefined;
    this.stats.hits++;
    e.used = true;
    return e.value;
  }

  /**
   * Cached value or the loader's answer for `id` (null = no such key), loading once per id at a
   * time. `load` takes the id, so callers pass one function made once, not a closure per call.
   *
   * A hit on an entry past its refresh time is answered from the cache at once and reloaded in
   * the background, so a key in use never waits for its max age to run out: entries loaded
   * together (a warm-up after a restart) would otherwise all expire together, and every request
   * would wait on the store at the same moment. The refresh times are spread for the same reason.
   */
  get(id: string, load: (id: string) => Promise<V | null>): Promise<V | null> | V | null {
    const now = this.opts.clock();
    const e = this.lookup(id, now);
    if (e === null) {
      this.stats.negativeHits++;
      return null;
    }
    if (e) {
      this.stats.hits++;
      e.used = true;
      if (now >= e.refreshAt && !this.inflight.has(id)) {
        this.stats.refreshes++;
        // A failed refresh keeps the entry until its max age; the next hit tries again.
        this.load(id, load).catch(() => {});
      }
      return e.value;
    }
    this.stats.misses++;
    const running = this.inflight.get(id);
    // A load that started before an invalidation may have read the old state: not joined.
    if (running && running.generation === this.generation) return running.promise;
    return this.load(id, load);
  }

  private load(id: string, load: (id: string) => Promise<V | null>): Promise<V | null> {
    this.stats.loads++;
    const generation = this.generation;
    const loadedAt = this.opts.clock();
    const promise: Promise<V | null> = load(id)
      .then((value) => {
        if (generation === this.generation) this.set(id, value, loadedAt);
        return value;
      })
      .finally(() => {
        if (this.inflight.get(id)?.promise === promise) this.inflight.delete(id);
      });
    this.inflight.set(id, { generation, promise });
    return promise;
  }

  private set(id: string, value: V | null, loadedAt: number) {
    if (value === null) {
      this.remove(id);
      if (this.negative.size >= this.opts.maxNegative) {
        const oldest = this.negative.keys().next().value;
        if (oldest !== undefined) this.negative.delete(oldest);
      }
      this.negative.set(id, loadedAt + this.opts.negativeTtlMs);
      return;
    }
    this.remove(id);
    if (this.entries.size >= this.opts.maxEntries) this.evictOne();
    const tags = this.tagsOf(value);
    const refreshAt = loadedAt + this.opts.maxAgeMs * (0.75 + 0.2 * Math.random());
    this.entries.set(id, { value, loadedAt, refreshAt, used: false });
    addTo(this.byKey, tags.keyId, id);
    addTo(this.byPrincipal, principalOf(tags), id);
    addTo(this.byOrg, tags.orgId, id);
  }

  /**
   * Makes room for one entry (second chance, as a CLOCK cache): the oldest entry goes unless
   * it was hit since it was loaded or last passed over; then it moves to the back, unmarked,
   * and the next oldest is looked at. At most {@link SECOND_CHANCES} are passed over, so a
   * miss never walks the whole cache; a key in use stays while idle ones go.
   */
  private evictOne() {
    this.stats.evictions++;
    for (let i = 0; i < SECOND_CHANCES; i++) {
      const [id, e] = this.entries.entries().next().value ?? [];
      if (id === undefined || e === undefined) return;
      if (!e.used) return this.remove(id);
      e.used = false;
      this.entries.delete(id);
      this.entries.set(id, e);
    }
    const oldest = this.entries.keys().next().value;
    if (oldest !== undefined) this.remove(oldest);
  }

  private remove(id: string) {
    const e = this.entries.get(id);
    if (!e) return;
    this.entries.delete(id);
    // Tags come from the value, whose tags never change while cached: they are not stored.
    const tags = this.tagsOf(e.value);
    removeFrom(this.byKey, tags.keyId, id);
    removeFrom(this.byPrincipal, principalOf(tags), id);
    removeFrom(this.byOrg, tags.orgId, id);
  }

  /** Drops every entry the change may affect. */
  invalidate(change: KeyChange) {
    this.generation++;
    this.stats.invalidations++;
    const ids =
      change.kind === "key"
        ? idsIn(this.byKey, change.keyId)
        : change.kind === "principal"
          ? idsIn(this.byPrincipal, principalOf(change))
          : idsIn(this.byOrg, change.orgId);
    for (const id of ids) this.remove(id);
  }

  clear() {
    this.generation++;
    this.entries.clear();
    this.negative.clear();
    this.byKey.clear();
    this.byPrincipal.clear();
    this.byOrg.clear();
  }

  close() {
    this.unsubscribe();
    this.clear();
  }
}
