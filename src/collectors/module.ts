import type { CheckOf } from "../checks/verdict.js";
import type { Collector } from "./collector.js";
import type { Target } from "./collector.js";

/*
 * A collector module: one concern, side by side. Its collector gathers the facts (through host/
 * only), its metrics say what is served, its render turns the facts into series of those metrics
 * and its checks judge the facts alone. The registry lists the modules; the catalogue, the check
 * list and the flags are derived from it.
 */

/** One metric: the public contract of its name, type, labels and help (METRICS.md). */
export interface MetricDef {
  readonly name: string;
  readonly type: "gauge" | "counter";
  readonly labels: readonly string[];
  readonly help: string;
}

export function gauge(name: string, labels: readonly string[], help: string): MetricDef {
  return { name, type: "gauge", labels, help };
}

export function counter(name: string, labels: readonly string[], help: string): MetricDef {
  return { name, type: "counter", labels, help };
}

export type Labels = Readonly<Record<string, string>>;

/** Where a render writes its series: only the metrics its module declares. */
export interface Sink<K extends string> {
  add(metric: K, labels: Labels, value: number): void;
}

export const bool = (value: boolean): number => (value ? 1 : 0);

export interface CollectorModule<N extends string, F, M extends Record<string, MetricDef>> {
  readonly name: N;
  readonly collector: Collector<F>;
  readonly metrics: M;
  /** The series of one watched user's facts (host-scope series carry no user label). */
  readonly render: (out: Sink<keyof M & string>, target: Target, facts: F) => void;
  /** Series that are the same for every user, written even when nobody is watched. */
  readonly renderHost?: (out: Sink<keyof M & string>, facts: F) => void;
  /** The checks that read this module's facts alone. */
  readonly checks: readonly CheckOf<Readonly<Record<N, F>>>[];
}

/** Declares a module, checking its parts against each other (identity at run time). */
export function collectorModule<N extends string, F, M extends Record<string, MetricDef>>(
  module: CollectorModule<N, F, M>,
): CollectorModule<N, F, M> {
  return module;
}
