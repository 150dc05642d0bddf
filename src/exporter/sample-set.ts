import type { MetricKey } from "./catalogue.js";

export type Labels = Readonly<Record<string, string>>;

/** Series to serve, by metric; a metric with no series is left out of the output. */
export class SampleSet {
  readonly series = new Map<MetricKey, { labels: Labels; value: number }[]>();

  add(metric: MetricKey, labels: Labels, value: number): void {
    let list = this.series.get(metric);
    if (!list) this.series.set(metric, (list = []));
    list.push({ labels, value });
  }
}

export const bool = (value: boolean): number => (value ? 1 : 0);
