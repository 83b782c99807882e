import type { Metric, Registry } from "prom-client";
import { scrapedCounter } from "./scraped-counter.js";

/** Upper bounds (seconds) of the request duration histogram's buckets. */
export const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

const REQUESTS = "keyward_http_requests_total";
const DURATION = "keyward_http_request_duration_seconds";

/** One method, route and status: its request count. */
interface Requests {
  labels: { method: string; route: string; status: string };
  count: number;
}

/** One method and route: its durations, per bucket (not cumulative; the last is above every bound). */
interface Durations {
  labels: { method: string; route: string };
  buckets: number[];
  sum: number;
  count: number;
}

interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/**
 * HTTP request counts (by method, route and status) and durations (by method and route),
 * kept in plain per-series counters and turned into Prometheus series only when scraped.
 *
 * prom-client's Counter and Histogram rebuild, check and hash the label set on every
 * observation: that was ~5 % of a warm /v1/verify's CPU. The counts are published through
 * {@link scrapedCounter}; prom-client has no way to report a histogram counted elsewhere, so
 * the durations are registered as a collector of their own (an object with `get()`, which is
 * all the registry calls), printed as prom-client prints its own histograms. Like the counts,
 * they live outside the registry: `registry.resetMetrics()` does not clear them.
 *
 * @example
 * const m = new RequestMetrics(registry);
 * m.record("POST", "/v1/verify", 200, 0.0004);
 */
export class RequestMetrics {
  /**
   * Series by route, then method (the strings Fastify and Node hand over are the same objects
   * on every request, so these lookups hash nothing), then status.
   */
  private routes = new Map<string, Map<string, { durations: Durations; statuses: Map<number, Requests> }>>();

  constructor(registry: Registry) {
    scrapedCounter(registry, REQUESTS, "HTTP requests by route and status", () => this.counts(), [
      "method",
      "route",
      "status",
    ]);
    registry.registerMetric(this.durationsMetric() as unknown as Metric);
  }

  /** One answered request. `route` is the route's pattern (never the raw URL: bounded series). */
  record(method: string, route: string, status: number, seconds: number): void {
    let methods = this.routes.get(route);
    if (!methods) {
      methods = new Map();
      this.routes.set(route, methods);
    }
    let series = methods.get(method);
    if (!series) {
      const buckets = new Array(DURATION_BUCKETS.length + 1).fill(0);
      series = { durations: { labels: { method, route }, buckets, sum: 0, count: 0 }, statuses: new Map() };
      methods.set(method, series);
    }
    const r = series.statuses.get(status);
    if (r) r.count++;
    else series.statuses.set(status, { labels: { method, route, status: String(status) }, count: 1 });
    const d = series.durations;
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]) i++;
    d.buckets[i]++;
    d.sum += seconds;
    d.count++;
  }

  private *series() {
    for (const methods of this.routes.values()) yield* methods.values();
  }

  private *counts(): Iterable<[Record<string, string>, number]> {
    for (const { statuses } of this.series()) for (const r of statuses.values()) yield [r.labels, r.count];
  }

  private durationsMetric() {
    const help = "HTTP request duration";
    const values = (): Sample[] => {
      const out: Sample[] = [];
      for (const { durations: d } of this.series()) {
        let cumulative = 0;
        for (let i = 0; i < DURATION_BUCKETS.length; i++) {
          cumulative += d.buckets[i];
          out.push({
            labels: { le: DURATION_BUCKETS[i], ...d.labels },
            value: cumulative,
            metricName: `${DURATION}_bucket`,
          });
        }
        out.push({ labels: { le: "+Inf", ...d.labels }, value: d.count, metricName: `${DURATION}_bucket` });
        out.push({ labels: { ...d.labels }, value: d.sum, metricName: `${DURATION}_sum` });
        out.push({ labels: { ...d.labels }, value: d.count, metricName: `${DURATION}_count` });
      }
      return out;
    };
    return {
      name: DURATION,
      help,
      type: "histogram",
      aggregator: "sum",
      get: async () => ({ name: DURATION, help, type: "histogram", aggregator: "sum", values: values() }),
      // The totals are kept here, not in the registry (as the counts are, see scrapedCounter).
      reset: () => {},
    };
  }
}
