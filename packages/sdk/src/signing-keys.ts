import { type JWTVerifyGetKey, createRemoteJWKSet, customFetch } from "jose";

/** A fetch that failed is not tried again for this long (ms): no fetch per request while Keyward is down. */
const RETRY_MS = 2_000;
/** A token naming a `kid` the set lacks fetches it again at most this often (ms). */
const UNKNOWN_KID_MS = 5_000;
/** A set this old (ms) is fetched again in the background; the one held answers meanwhile. */
export const JWKS_RENEW_MS = 10 * 60_000;
/** A set no fetch has renewed for this long (ms) is not used any more: tokens then get no answer. */
export const JWKS_STALE_MS = 24 * 60 * 60_000;

/**
 * Keyward's public signing keys (`/.well-known/jwks.json`) for offline token checks: fetched on
 * first use, renewed in the background every {@link JWKS_RENEW_MS}, and kept while renewals
 * fail for up to {@link JWKS_STALE_MS}, so offline checks outlive an outage of Keyward (jose's
 * own cache would fetch in the request after 10 minutes and fail it). jose's remote set does
 * the fetching and the key lookup; when to fetch is decided here alone.
 */
export class SigningKeys {
  /** jwtVerify's key lookup: the set last fetched. */
  readonly getKey: JWTVerifyGetKey & { reload(): Promise<void> };
  /** When a fetch last succeeded (epoch ms; 0: never). */
  private fetchedAt = 0;
  private failedUntil = 0;
  private unknownKidAt = 0;
  private fetching: Promise<void> | null = null;

  constructor(url: URL, timeoutMs: number, fetchImpl?: typeof globalThis.fetch) {
    this.getKey = createRemoteJWKSet(url, {
      timeoutDuration: timeoutMs,
      cacheMaxAge: Number.POSITIVE_INFINITY,
      cooldownDuration: Number.POSITIVE_INFINITY,
      ...(fetchImpl ? { [customFetch]: fetchImpl } : {}),
    });
  }

  /**
   * Makes sure a set is held: fetches one when none is, or the one held is past
   * {@link JWKS_STALE_MS} (throwing when that fails); renews an old one in the background.
   */
  async ready(): Promise<void> {
    const age = Date.now() - this.fetchedAt;
    if (age > JWKS_STALE_MS) return this.fetch();
    if (age > JWKS_RENEW_MS) this.fetch().catch(() => {}); // the set held answers meanwhile
  }

  /**
   * A token named a `kid` the set lacks (Keyward rotated its signing key since the last fetch):
   * fetches the set again, at most every 5 s whatever kids clients make up. True when a set newer
   * than the one checked at `checkedAt` (epoch ms) is held now, so the token is worth checking
   * again: this request's fetch, one under way (awaited), or one that landed meanwhile. Without
   * that, every request but the first of a burst after a rotation was refused a valid token.
   */
  async renewForUnknownKid(checkedAt: number): Promise<boolean> {
    if (this.fetchedAt > checkedAt) return true;
    if (this.fetching) {
      await this.fetching;
      return true;
    }
    if (Date.now() - this.unknownKidAt < UNKNOWN_KID_MS) return false;
    this.unknownKidAt = Date.now();
    await this.fetch();
    return true;
  }

  private fetch(): Promise<void> {
    if (this.fetching) return this.fetching;
    if (Date.now() < this.failedUntil)
      return Promise.reject(new Error("Verifier: the JWKS could not be fetched; retrying shortly"));
    this.fetching = this.getKey
      .reload()
      .then(
        () => {
          this.fetchedAt = Date.now();
        },
        (err) => {
          this.failedUntil = Date.now() + RETRY_MS;
          throw err;
        },
      )
      .finally(() => {
        this.fetching = null;
      });
    return this.fetching;
  }
}
