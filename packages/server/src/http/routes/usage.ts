import Type from "typebox";
import { AppError, invalidField, notFound } from "../../domain/errors.js";
import { queryInstant } from "../../domain/instants.js";
import { loadAccess } from "../../services/access.js";
import type { Services } from "../../services/index.js";
import { keyRights } from "../../services/key-rights.js";
import { DAY, HOUR } from "../../services/usage/hours.js";
import type { App } from "../app.js";
import { Id, errorResponses } from "../schemas/common.js";
import { UsageQuery, UsageResponse } from "../schemas/verify.js";

const MAX_RANGE_DAYS = 92;

/** Hours an answer can name in RFC 3339 (four-digit years). */
const FIRST_HOUR = Date.parse("0000-01-01T00:00:00Z");
const LAST_HOUR = Date.parse("9999-12-31T23:00:00Z");
const floorHour = (ms: number) => Math.floor(ms / HOUR) * HOUR;
const ceilHour = (ms: number) => Math.ceil(ms / HOUR) * HOUR;

export function usageRoutes(app: App, s: Services) {
  app.get(
    "/v1/api-keys/:keyId/usage",
    {
      schema: {
        tags: ["api-keys"],
        summary: "A key's requests per hour, and its last use",
        description: `Hourly buckets (UTC) of verifications from \`from\` up to, not including, \`to\` (at most ${MAX_RANGE_DAYS} days; default the last 7 days, up to now). A bucket is a whole UTC hour, counted when its start is in [\`from\`, \`to\`), with \`from\` rounded down and \`to\` rounded up to whole hours: a range within one hour returns that hour, and consecutive ranges whose bounds are whole hours (days, say) never count an hour twice. The answer's \`from\` and \`to\` are those whole hours, and \`total\` is the sum of \`items\`. Visible to whoever may read the key. Hours older than the server's usage retention (\`KEYWARD_USAGE_RETENTION_DAYS\`, 400 days by default) are deleted, so they count nothing.`,
        params: Type.Object({ keyId: Id("key") }),
        querystring: UsageQuery,
        response: { 200: UsageResponse, ...errorResponses(400, 401, 404) },
      },
    },
    async (req) => {
      const { deps } = s;
      const row = await deps.db.kysely
        .selectFrom("api_keys")
        .select(["id", "org_id", "owner_type", "owner_id"])
        .where("id", "=", req.params.keyId)
        .executeTakeFirst();
      if (!row) throw notFound("API key");
      // Same 404 for a key the caller may not read as for one that does not exist.
      const access = await loadAccess(deps, req.ctx.actor, row.org_id).catch((err) => {
        if (err instanceof AppError && err.code === "NOT_FOUND") throw notFound("API key");
        throw err;
      });
      const rights = await keyRights(deps, access, { type: row.owner_type, id: row.owner_id });
      if (!rights.view) throw notFound("API key");

      const now = deps.now().getTime();
      // `23:59:60` passes the schema's format but is no instant: a 400 naming the field.
      const to = req.query.to ? queryInstant("to", req.query.to) : now;
      const from = req.query.from ? queryInstant("from", req.query.from) : to - 7 * DAY;
      if (from > to) throw invalidField("from", "from must not be after to");
      // At most the documented span, as asked ("the last 92 days" is taken); answered in whole
      // hours, half-open: [fromHour, toHour), so up to two hours more once rounded.
      if (to - from > MAX_RANGE_DAYS * DAY)
        throw invalidField("from", `the range may span at most ${MAX_RANGE_DAYS} days`);
      if (ceilHour(to) > LAST_HOUR) throw invalidField("to", "to must be before 9999-12-31T23:00:00Z", "range");
      if (floorHour(from) < FIRST_HOUR)
        throw invalidField(req.query.from ? "from" : "to", "the range must start in year 0000 or later", "range");
      const fromHour = new Date(floorHour(from)).toISOString();
      const toHour = new Date(ceilHour(to)).toISOString();

      // Counts this node has not flushed yet are added, so the answer is current here; read
      // so that a flush committing meanwhile is counted once, and the last use with them.
      const { usage } = s.verify;
      const { last, rows, pending } = await usage.consistentRead(async () => ({
        last: await deps.db.kysely
          .selectFrom("api_keys")
          .select(["last_used_at", "last_used_ip"])
          .where("id", "=", row.id)
          .executeTakeFirst(),
        rows: await deps.db.kysely
          .selectFrom("key_usage")
          .select(["hour", "count"])
          .where("key_id", "=", row.id)
          .where("hour", ">=", fromHour)
          .where("hour", "<", toHour)
          .execute(),
        pending: usage.unflushed(row.id),
      }));
      const buckets = new Map(rows.map((r) => [r.hour, Number(r.count)]));
      for (const b of pending.buckets) {
        if (b.hour < fromHour || b.hour >= toHour) continue;
        buckets.set(b.hour, (buckets.get(b.hour) ?? 0) + b.count);
      }
      const items = [...buckets].sort(([a], [b]) => (a < b ? -1 : 1)).map(([hour, count]) => ({ hour, count }));
      const stored = { at: last?.last_used_at ?? null, ip: last?.last_used_ip ?? null };
      const newer = pending.lastUsedAt && (!stored.at || pending.lastUsedAt > stored.at);
      return {
        keyId: row.id,
        from: fromHour,
        to: toHour,
        lastUsedAt: newer ? pending.lastUsedAt : stored.at,
        lastUsedIp: newer ? pending.lastUsedIp : stored.ip,
        total: items.reduce((n, i) => n + i.count, 0),
        items,
      };
    },
  );
}
