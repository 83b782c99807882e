import { type Keyward, createKeyward } from "../src/compose.js";
import type { Config } from "../src/config.js";
import { newId } from "../src/domain/ids.js";
import { generateSecret, hashSecret } from "../src/domain/keys/secret.js";
import { bootstrap } from "../src/services/bootstrap.js";
import type { ApiKeysTable } from "../src/store/schema.js";

export const OWNER = { email: "owner@example.com", password: "owner-password-123" };

async function call(kw: Keyward, method: string, url: string, token: string | undefined, body?: unknown) {
  const res = await kw.app.inject({
    method: method as "POST",
    url,
    headers: token ? { authorization: `Bearer ${token}` } : {},
    ...(body === undefined ? {} : { payload: body as object }),
  });
  if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`);
  return res.json();
}

/**
 * Fills a database for the benchmark: the owner and operator org, a verifier key (service
 * account with iam:apikeys:verify) and `count` keys of a customer org's owner, inserted in
 * bulk (the API's create path is not what is measured). Returns the secrets.
 */
export async function seed(config: Config, count: number): Promise<{ verifier: string; secrets: string[] }> {
  const kw = await createKeyward(config, { logger: false });
  try {
    const first = await bootstrap(kw.db, config, new Date());
    if (!first) throw new Error("bench database must start empty");
    const owner = (await call(kw, "POST", "/v1/auth/login", undefined, OWNER)).token as string;
    const op = first.orgId;
    const role = await call(kw, "POST", `/v1/orgs/${op}/roles`, owner, {
      name: "verifier",
      permissions: ["iam:apikeys:verify"],
    });
    const sa = await call(kw, "POST", `/v1/orgs/${op}/service-accounts`, owner, {
      name: "gateway",
      roles: [{ roleId: role.id }],
    });
    const vk = await call(kw, "POST", `/v1/orgs/${op}/api-keys`, owner, {
      name: "verifier",
      owner: { type: "service_account", id: sa.id },
      permissions: ["iam:apikeys:verify"],
    });
    const org = await call(kw, "POST", "/v1/orgs", owner, { name: "Customer" });
    const me = await call(kw, "GET", "/v1/me", owner);
    const userId = (me.user?.id ?? me.principal?.id) as string;

    const secrets: string[] = [];
    const t = new Date().toISOString();
    let batch: ApiKeysTable[] = [];
    const all: ApiKeysTable[][] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      all.push(batch);
      batch = [];
    };
    for (let i = 0; i < count; i++) {
      const { secret, start } = generateSecret(config.keyPrefix);
      secrets.push(secret);
      batch.push({
        id: newId("key"),
        org_id: org.id,
        name: `bench-${i}`,
        description: "",
        owner_type: "user",
        owner_id: userId,
        default_project_id: null,
        permissions: JSON.stringify(["compute:read", "storage:read"]),
        roles: null,
        read_only: 0,
        allowed_projects: null,
        allowed_ips: null,
        expires_at: null,
        ratelimit_limit: null,
        ratelimit_window: null,
        status: "active",
        start,
        secret_hash: hashSecret(secret, kw.services.deps.pepper),
        previous_hash: null,
        previous_expires_at: null,
        created_at: t,
        created_by: userId,
        updated_at: t,
        last_used_at: null,
        last_used_ip: null,
        version: 1,
      });
      // 26 columns per row: 1,000 rows stay under both databases' parameter limits.
      if (batch.length === 1000) await flush();
    }
    await flush();
    await kw.db.kysely.transaction().execute(async (trx) => {
      for (const rows of all) await trx.insertInto("api_keys").values(rows).execute();
    });
    return { verifier: vk.secret as string, secrets };
  } finally {
    await kw.close();
  }
}
