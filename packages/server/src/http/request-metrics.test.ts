import { Counter, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { DURATION_BUCKETS, RequestMetrics } from "./request-metrics.js";

const OBSERVATIONS = [
  ["POST", "/v1/verify", 200, 0.0004],
  ["POST", "/v1/verify", 200, 0.0005], // on a bound: counted in that bucket
  ["POST", "/v1/verify", 200, 0.003],
  ["POST", "/v1/verify", 401, 0.1],
  ["GET", "/v1/orgs/:orgId", 404, 2], // above every bound: +Inf only
  ["GET", 'odd"route\\', 200, 0.01], // label values are escaped
] as const;

const lines = (text: string) => text.split("\n").filter(Boolean).sort();

describe("request metrics", () => {
  it("expose exactly what prom-client's own counter and histogram expose for the same requests", async () => {
    const reference = new Registry();
    const counter = new Counter({
      name: "keyward_http_requests_total",
      help: "HTTP requests by route and status",
      labelNames: ["method", "route", "status"],
      registers: [reference],
    });
    const histogram = new Histogram({
      name: "keyward_http_request_duration_seconds",
      help: "HTTP request duration",
      labelNames: ["method", "route"],
      buckets: DURATION_BUCKETS,
      registers: [reference],
    });
    const ours = new Registry();
    const metrics = new RequestMetrics(ours);
    for (const [method, route, status, seconds] of OBSERVATIONS) {
      counter.inc({ method, route, status: String(status) });
      histogram.observe({ method, route }, seconds);
      metrics.record(method, route, status, seconds);
    }
    const text = await ours.metrics();
    expect(lines(text)).toEqual(lines(await reference.metrics()));
    expect(text).toContain(
      'keyward_http_request_duration_seconds_bucket{le="0.0005",method="POST",route="/v1/verify"} 2',
    );
    expect(text).toContain('keyward_http_requests_total{method="POST",route="/v1/verify",status="401"} 1');
  });
});
