import type { Harness } from "../harness.js";

/**
 * Scrapes `/metrics` once; the returned function gives a series' value by its name and labels
 * exactly as Prometheus prints them, e.g. `keyward_usage_flushes_total{result="ok"}`
 * (0 for a series not printed: a counter nothing has counted yet).
 */
export async function scrape(h: Harness): Promise<(series: string) => number> {
  const lines = String((await h.req("GET", "/metrics")).body).split("\n");
  return (series) => {
    const line = lines.find((l) => l.startsWith(`${series} `));
    return line ? Number(line.slice(series.length + 1)) : 0;
  };
}
