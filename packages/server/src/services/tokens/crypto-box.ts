import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

/**
 * AES-256-GCM under a key derived (HKDF-SHA256) from the server pepper, for secrets
 * Keyward must read back (signing keys' private JWKs). Output: `v1.<iv>.<tag>.<ciphertext>`
 * in base64url. `info` separates uses: a key derived for one purpose opens nothing else.
 */
export class CryptoBox {
  private readonly key: Buffer;

  constructor(pepper: string, info: string) {
    this.key = Buffer.from(hkdfSync("sha256", pepper, "keyward", info, 32));
  }

  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    const data = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    const tag = cipher.getAuthTag();
    return ["v1", iv, tag, data].map((p) => (typeof p === "string" ? p : p.toString("base64url"))).join(".");
  }

  /** Throws when the box was sealed under another pepper or was tampered with. */
  open(sealed: string): string {
    const [version, iv, tag, data] = sealed.split(".");
    if (version !== "v1" || !iv || !tag || data === undefined) throw new Error("unknown sealed format");
    // The full 16-byte tag only: GCM would accept a shortened one, and with it a forgery.
    const decipher = createDecipheriv("aes-256-gcm", this.key, Buffer.from(iv, "base64url"), { authTagLength: 16 });
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    return Buffer.concat([decipher.update(Buffer.from(data, "base64url")), decipher.final()]).toString("utf8");
  }
}
