import type { FastifyReply, FastifyRequest } from "fastify";
import { Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { Db } from "../store/db.js";
import { RequestMetrics } from "./request-metrics.js";

/** Prometheus metrics for one app instance (own registry: no globals). */
export function createMetrics(db: Db) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new RequestMetrics(registry);
  new Gauge({
    name: "keyward_database_info",
    help: "Database dialect in use",
    labelNames: ["dialect"],
    registers: [registry],
    collect() {
      this.set({ dialect: db.dialect }, 1);
    },
  });
  return {
    registry,
    /** One answer, `seconds` after its request arrived. */
    observe(req: FastifyRequest, reply: FastifyReply, seconds: number) {
      requests.record(req.method, req.routeOptions?.url ?? "unmatched", reply.statusCode, seconds);
    },
  };
}
