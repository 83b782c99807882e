import type { FastifyReply, FastifyRequest } from "fastify";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Db } from "../store/db.js";

/** Prometheus metrics for one app instance (own registry: no globals). */
export function createMetrics(db: Db) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: "keyward_http_requests_total",
    help: "HTTP requests by route and status",
    labelNames: ["method", "route", "status"],
    registers: [registry],
  });
  const duration = new Histogram({
    name: "keyward_http_request_duration_seconds",
    help: "HTTP request duration",
    labelNames: ["method", "route"],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
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
    observe(req: FastifyRequest, reply: FastifyReply) {
      const route = req.routeOptions?.url ?? "unmatched";
      requests.inc({ method: req.method, route, status: String(reply.statusCode) });
      duration.observe({ method: req.method, route }, reply.elapsedTime / 1000);
    },
  };
}
