import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { Target } from "../host/target.js";
import { metrics } from "./catalogue.js";
import type { BuildInfo } from "./samples.js";
import { samplesFrom } from "./samples.js";
import type { CollectorState } from "./scheduler.js";

/** How long process_* and nodejs_* figures are reused, so a scrape costs a buffer copy. */
const processMetricsMaxAgeMs = 1000;

/**
 * prom-client's gauges named like counters (`promtool check metrics`: "non-counter metrics should
 * not have _total suffix"). Each is the sum of the per-type gauge beside it: sum(nodejs_active_handles).
 */
export const droppedDefaults = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
] as const;

export interface MetricsRendererOptions {
  readonly states: () => readonly CollectorState[];
  readonly target: Target;
  readonly build: BuildInfo;
  readonly exporterMetrics: boolean;
}

/**
 * Renders the latest snapshot in the Prometheus text format and keeps it as one Buffer, so a scrape
 * costs a buffer write. The rootless_* part is rebuilt when a collector finishes (invalidate()),
 * the process part when it is older than a second; a scrape never waits for either once the
 * first rendering exists, it gets the last one while the next is made.
 */
export class MetricsRenderer {
  readonly contentType = Registry.PROMETHEUS_CONTENT_TYPE;
  private readonly processRegistry = new Registry();
  private current: Buffer | undefined;
  private snapshotText = "";
  /** Bumped by invalidate(); the snapshot is current when it was rendered at this generation. */
  private generation = 0;
  private renderedGeneration = -1;
  private processText = "";
  private processAt = -Infinity;
  private rendering: Promise<void> | undefined;

  constructor(private readonly options: MetricsRendererOptions) {
    if (options.exporterMetrics) {
      collectDefaultMetrics({ register: this.processRegistry });
      for (const name of droppedDefaults) this.processRegistry.removeSingleMetric(name);
    }
  }

  invalidate(): void {
    this.generation++;
    void this.refresh();
  }

  /** The latest rendering, synchronously once one exists; starts the next one if it is stale. */
  render(): Buffer | Promise<Buffer> {
    if (!this.current) return this.refresh().then(() => this.current ?? Buffer.alloc(0));
    if (this.stale()) void this.refresh();
    return this.current;
  }

  private stale(): boolean {
    const processStale =
      this.options.exporterMetrics && Date.now() - this.processAt > processMetricsMaxAgeMs;
    return this.renderedGeneration !== this.generation || processStale;
  }

  /** One rendering at a time; it repeats while something went stale during the last one. */
  private refresh(): Promise<void> {
    this.rendering ??= (async () => {
      try {
        // A collector may finish while a snapshot renders: render again until none did.
        do {
          if (this.renderedGeneration !== this.generation) {
            const generation = this.generation;
            this.snapshotText = await this.renderSnapshot();
            this.renderedGeneration = generation;
          }
          if (
            this.options.exporterMetrics &&
            Date.now() - this.processAt > processMetricsMaxAgeMs
          ) {
            this.processAt = Date.now();
            this.processText = await this.processRegistry.metrics();
          }
          this.current = Buffer.from(this.snapshotText + this.processText);
        } while (this.renderedGeneration !== this.generation);
      } finally {
        this.rendering = undefined;
      }
    })();
    return this.rendering;
  }

  private async renderSnapshot(): Promise<string> {
    const samples = samplesFrom(this.options.states(), this.options.target, this.options.build);
    // A fresh registry per snapshot: prom-client would print an unset unlabelled gauge as 0,
    // and a value that cannot be known must be absent, not 0.
    const registry = new Registry();
    for (const [key, series] of samples.series) {
      const def = metrics[key];
      const config = {
        name: def.name,
        help: def.help,
        labelNames: def.labels,
        registers: [registry],
      };
      if (def.type === "counter") {
        const metric = new Counter(config);
        for (const { labels, value } of series) metric.inc(labels, value);
      } else {
        const metric = new Gauge(config);
        for (const { labels, value } of series) metric.set(labels, value);
      }
    }
    return registry.metrics();
  }
}
