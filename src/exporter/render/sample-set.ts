import type { MetricKey } from "../catalogue.js";

export type Labels = Readonly<Record<string, string>>;

/** The key of a host-scope series (no user label): kept once, the first time. */
export const hostKey = (metric: MetricKey, labels: Labels): string =>
  `${metric}\0${JSON.stringify(labels)}`;

/** Where series are written: a SampleSet, or one user's chunk (user-chunk.ts). */
export interface SeriesSink {
  add(metric: MetricKey, labels: Labels, value: number): void;
}

/**
 * Series to serve, by metric; a metric with no series is left out of the output. A host-scope
 * series (no `user` label: a sysctl, a module, a host check) is derived from every watched user's
 * view of the same host facts: it is kept once, the first time.
 */
export class SampleSet implements SeriesSink {
  readonly series = new Map<MetricKey, { labels: Labels; value: number }[]>();
  private readonly hostSeries = new Set<string>();

  add(metric: MetricKey, labels: Labels, value: number): void {
    if (!("user" in labels)) {
      const key = hostKey(metric, labels);
      if (this.hostSeries.has(key)) return;
      this.hostSeries.add(key);
    }
    let list = this.series.get(metric);
    if (!list) this.series.set(metric, (list = []));
    list.push({ labels, value });
  }
}

export const bool = (value: boolean): number => (value ? 1 : 0);
