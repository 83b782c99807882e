import type { Metric, Registry } from "prom-client";

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
 * observation: that was ~5 % of a warm /v1/verify's CPU, and prom-client has no way to report
 * a histogram counted elsewhere. So these two metrics are registered as collectors of their
 * own (an object with `get()`, which is all the registry calls); the exposition is the one
 * prom-client writes for its own counters and histograms.
 *
 * @example
 * const m = new RequestMetrics(registry);
 * m.record("POST", "/v1/verify", 200, 0.0004);
 */
export class RequestMetrics {
  private requests = new Map<string, Requests>();
  private durations = new Map<string, Durations>();

  constructor(registry: Registry) {
    for (const metric of [this.requestsMetric(), this.durationsMetric()])
      registry.registerMetric(metric as unknown as Metric);
  }

  /** One answered request. `route` is the route's pattern (never the raw URL: bounded series). */
  record(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${route}`;
    const rk = `${key} ${status}`;
    const r = this.requests.get(rk);
    if (r) r.count++;
    else this.requests.set(rk, { labels: { method, route, status: String(status) }, count: 1 });
    let d = this.durations.get(key);
    if (!d) {
      d = { labels: { method, route }, buckets: new Array(DURATION_BUCKETS.length + 1).fill(0), sum: 0, count: 0 };
      this.durations.set(key, d);
    }
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]) i++;
    d.buckets[i]++;
    d.sum += seconds;
    d.count++;
  }

  private requestsMetric() {
    const help = "HTTP requests by route and status";
    const values = (): Sample[] =>
      [...this.requests.values()].map((r) => ({ labels: { ...r.labels }, value: r.count }));
    return {
      name: REQUESTS,
      help,
      type: "counter",
      aggregator: "sum",
      get: async () => ({ name: REQUESTS, help, type: "counter", aggregator: "sum", values: values() }),
      reset: () => this.requests.clear(),
    };
  }

  private durationsMetric() {
    const help = "HTTP request duration";
    const values = (): Sample[] => {
      const out: Sample[] = [];
      for (const d of this.durations.values()) {
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
      reset: () => this.durations.clear(),
    };
  }
}
