import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generateSecret } from "../../src/domain/keys/secret.js";
import type { Actor } from "../../src/services/deps.js";
import { buildVerification } from "../../src/services/verify/index.js";
import { Harness, describeEachDialect } from "../harness.js";
import { mkKey, mkRole, mkServiceAccount } from "./key-helpers.js";
import { scrape } from "./metrics-helpers.js";
import { countStatements } from "./statement-helpers.js";
import { mkVerifier, verifierKey, verify } from "./verify-helpers.js";

/**
 * Many keys seen for the first time at once (a node just started under load): each answer is
 * the key's own, whatever else its load was read with. On PostgreSQL the loads are batched.
 */
describeEachDialect("cold verifies at once", (dialect) => {
  let h: Harness;
  beforeEach(async () => {
    h = await Harness.init(dialect);
  });
  afterEach(async () => h.close());

  it("answers each key as its own, with fewer statements than keys on PostgreSQL", async () => {
    const verifier = await verifierKey(h);
    expect((await verify(h, verifier, { key: generateSecret("kw").secret })).body.code).toBe("NOT_FOUND");
    const org = await h.newOrgWithOwner("burst");
    const role = await mkRole(h, org.token, org.orgId, ["storage:read"]);
    const sa = await mkServiceAccount(h, org.token, org.orgId, [{ roleId: role }]);

    type Case = { key: string; expect: Record<string, unknown> };
    const cases: Case[] = [];
    for (let i = 0; i < 24; i++) {
      const perms = i % 2 ? ["compute:read"] : ["compute:read", "storage:read"];
      const k = await mkKey(h, org.token, org.orgId, { name: `user-${i}`, permissions: perms });
      cases.push({
        key: k.secret,
        expect: { valid: true, keyId: k.id, owner: { type: "user", id: org.userId }, permissions: perms },
      });
    }
    for (let i = 0; i < 4; i++) {
      const k = await mkKey(h, org.token, org.orgId, { name: `sa-${i}`, owner: { type: "service_account", id: sa } });
      cases.push({
        key: k.secret,
        expect: { valid: true, keyId: k.id, owner: { type: "service_account", id: sa }, permissions: ["storage:read"] },
      });
    }
    // A regenerated key: its old secret still works in the grace period, the new one too.
    const rotated = await mkKey(h, org.token, org.orgId, { name: "rotated" });
    const regen = await h.req("POST", `/v1/api-keys/${rotated.id}/regenerate`, {
      token: org.token,
      body: { graceSeconds: 600 },
    });
    expect(regen.status).toBe(200);
    cases.push({ key: rotated.secret, expect: { valid: true, keyId: rotated.id } });
    cases.push({ key: regen.body.secret, expect: { valid: true, keyId: rotated.id } });
    // One regenerated with no grace: its old secret is gone.
    const replaced = await mkKey(h, org.token, org.orgId, { name: "replaced" });
    await h.req("POST", `/v1/api-keys/${replaced.id}/regenerate`, { token: org.token, body: {} });
    cases.push({ key: replaced.secret, expect: { valid: false, code: "NOT_FOUND" } });
    const disabled = await mkKey(h, org.token, org.orgId, { name: "disabled" });
    await h.req("POST", `/v1/api-keys/${disabled.id}/disable`, { token: org.token });
    cases.push({ key: disabled.secret, expect: { valid: false, code: "DISABLED" } });
    for (let i = 0; i < 3; i++)
      cases.push({ key: generateSecret("kw").secret, expect: { valid: false, code: "NOT_FOUND" } });

    let answers: Awaited<ReturnType<typeof verify>>[] = [];
    const statements = await countStatements(h, async () => {
      answers = await Promise.all(cases.map((c) => verify(h, verifier, { key: c.key })));
    });
    for (const [i, c] of cases.entries()) expect(answers[i].body).toMatchObject(c.expect);
    // Every key went to the database: none was cached before.
    expect(h.kw.services.verify.cache.stats.misses).toBeGreaterThanOrEqual(cases.length);
    // PostgreSQL reads the keys in batches, and the verifier's right to verify (four
    // statements) is checked once for the whole burst; SQLite reads one key per statement.
    if (dialect === "postgres") expect(statements).toBeLessThan(cases.length / 2);
    else expect(statements).toBeGreaterThanOrEqual(cases.length);
    // What /metrics shows of it: keys read, and the statements that read them.
    const metric = await scrape(h);
    const [keys, reads] = [
      metric("keyward_verify_key_loads_total"),
      metric("keyward_verify_key_load_statements_total"),
    ];
    expect(keys).toBeGreaterThanOrEqual(cases.length);
    if (dialect === "postgres") expect(reads).toBeLessThan(keys / 2);
    else expect(reads).toBeGreaterThanOrEqual(keys);
  });

  it("checks a verifier once for a burst, keeps the answer through changes elsewhere, and none read across a change", async () => {
    const vk = await mkVerifier(h);
    const actor: Actor = {
      kind: "service_account",
      id: vk.key.owner.id,
      credential: { type: "api_key", id: vk.id },
    };
    const { verify: service, deps } = h.emitsByHand().kw.services;
    const check = () => service.mayVerify(actor);
    expect(await check()).toBe(true); // the operator org's id is read here, once
    deps.keyEvents.emit({ kind: "org", orgId: h.operatorOrgId });
    // A burst of a caller's requests after a change costs what one check costs.
    const one = await countStatements(h, async () => expect(await check()).toBe(true));
    expect(one).toBeGreaterThan(0);
    deps.keyEvents.emit({ kind: "org", orgId: h.operatorOrgId });
    const burst = await countStatements(h, async () => {
      const answers = [check(), check(), check()];
      expect(answers[0]).toBeInstanceOf(Promise);
      expect(await Promise.all(answers)).toEqual([true, true, true]);
    });
    expect(burst).toBe(one);
    const checks = async () => (await scrape(h))("keyward_verify_caller_checks_total");
    const checked = await checks();
    // Kept: the next request is answered at once, and so it stays through changes elsewhere.
    expect(check()).toBe(true);
    deps.keyEvents.emit({ kind: "org", orgId: "org_elsewhere" });
    deps.keyEvents.emit({ kind: "principal", orgId: h.operatorOrgId, principalId: "sa_someone_else" });
    deps.keyEvents.emit({ kind: "principal", orgId: "org_elsewhere", principalId: actor.id });
    deps.keyEvents.emit({ kind: "key", keyId: "key_someone_else" });
    expect(check()).toBe(true);
    expect(await checks()).toBe(checked); // /metrics: no check since the burst's
    // A change to its key, to its grants in the operator org or to that org drops it.
    const related = [
      { kind: "key", keyId: vk.id },
      { kind: "principal", orgId: h.operatorOrgId, principalId: actor.id },
      { kind: "org", orgId: h.operatorOrgId },
    ] as const;
    for (const change of related) {
      deps.keyEvents.emit(change);
      const again = check();
      expect(again).toBeInstanceOf(Promise);
      expect(await again).toBe(true);
      expect(check()).toBe(true);
    }
    expect(await checks()).toBe(checked + related.length);
    // A check under way when any change comes answers its own requests but is not kept: it
    // may have read the state from before the change.
    deps.keyEvents.emit({ kind: "key", keyId: vk.id });
    const during = check();
    deps.keyEvents.emit({ kind: "key", keyId: "key_someone_else" });
    expect(await during).toBe(true);
    const after = check();
    expect(after).toBeInstanceOf(Promise);
    expect(await after).toBe(true);
  });
});

describe("a verifier's right to verify, over time", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await Harness.init("sqlite");
  });
  afterEach(async () => h.close());

  it("is checked again in the background before its 10-minute max age, so no request waits for it", async () => {
    const vk = await mkVerifier(h);
    const actor: Actor = { kind: "service_account", id: vk.key.owner.id, credential: { type: "api_key", id: vk.id } };
    let now = Date.now();
    const service = buildVerification(h.kw.services.deps, { cache: { clock: () => now } });
    try {
      expect(await service.mayVerify(actor)).toBe(true);
      expect(service.mayVerify(actor)).toBe(true);
      now += 9.6 * 60_000; // past 95 % of the max age: a check is due
      expect(service.mayVerify(actor)).toBe(true); // answered at once, checked meanwhile
      expect(service.callers.stats.loads).toBe(2);
      await sleep(50);
      now += 60_000; // past the first check's max age: the second one answers
      expect(service.mayVerify(actor)).toBe(true);
      expect(service.callers.stats.loads).toBe(2);
    } finally {
      await service.close();
    }
  });
});
