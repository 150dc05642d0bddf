import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { Target } from "../host/target.js";
import { metrics } from "./catalogue.js";
import type { BuildInfo } from "./samples.js";
import { samplesFrom } from "./samples.js";
import type { CollectorState } from "./scheduler.js";

/** How long process_* and nodejs_* figures are reused, so a scrape costs a buffer copy. */
const processMetricsMaxAgeMs = 1000;

export interface MetricsRendererOptions {
  readonly states: () => readonly CollectorState[];
  readonly target: Target;
  readonly build: BuildInfo;
  readonly exporterMetrics: boolean;
}

/**
 * Renders the latest snapshot in the Prometheus text format. The rootless_* part is rebuilt only
 * when a collector finishes (invalidate()); the process part at most once a second.
 */
export class MetricsRenderer {
  readonly contentType = Registry.PROMETHEUS_CONTENT_TYPE;
  private readonly processRegistry = new Registry();
  private snapshot: Promise<string> | undefined;
  private processText: { at: number; text: Promise<string> } | undefined;

  constructor(private readonly options: MetricsRendererOptions) {
    if (options.exporterMetrics) collectDefaultMetrics({ register: this.processRegistry });
  }

  invalidate(): void {
    this.snapshot = undefined;
  }

  async render(): Promise<string> {
    this.snapshot ??= this.renderSnapshot();
    const now = Date.now();
    if (
      this.options.exporterMetrics &&
      (!this.processText || now - this.processText.at > processMetricsMaxAgeMs)
    ) {
      this.processText = { at: now, text: this.processRegistry.metrics() };
    }
    const [snapshot, process] = await Promise.all([this.snapshot, this.processText?.text ?? ""]);
    return snapshot + process;
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
