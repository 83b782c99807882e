import { Counter, type Registry } from "prom-client";

/**
 * A Prometheus counter whose totals are kept elsewhere (plain fields on the hot path) and read
 * only when the registry is scraped: `read` gives every series' labels and current total.
 *
 * @example
 * scrapedCounter(registry, "keyward_x_total", "Xs seen", () => [[{}, stats.x]]);
 */
export function scrapedCounter(
  registry: Registry,
  name: string,
  help: string,
  read: () => Iterable<[labels: Record<string, string>, total: number]>,
  labelNames: string[] = [],
): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, total] of read()) this.inc(labels, total);
    },
  });
}
