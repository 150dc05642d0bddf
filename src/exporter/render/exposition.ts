import { metrics } from "../catalogue.js";
import type { MetricDef } from "../catalogue.js";
import type { Labels, SampleSet } from "./sample-set.js";
import { atOnce, itemsPerStep } from "./slices.js";

/*
 * The Prometheus text format (exposition formats, version 0.0.4) written straight from the
 * samples. prom-client builds a Gauge object and a label map per series first: with host mode's
 * thousands of users that cost 665 ms of CPU a rendering (bench/host-mode.mjs) where writing the
 * text costs a few percent of it. The output is what prom-client writes, line for line.
 */

const escapeHelp = (text: string): string => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
const needsEscape = /[\\\n"]/;
const escapeLabel = (text: string): string =>
  needsEscape.test(text)
    ? text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')
    : text;

export function valueText(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value < 0 ? "-Inf" : "+Inf";
  return String(value);
}

export function labelText(names: readonly string[], labels: Labels): string {
  let text = "";
  for (const name of names) {
    const value = labels[name];
    if (value === undefined) continue;
    text += `${text === "" ? "" : ","}${name}="${escapeLabel(value)}"`;
  }
  return text === "" ? "" : `{${text}}`;
}

/** The two lines that open a metric's block. */
export function metricHeader(def: MetricDef): string {
  return `# HELP ${def.name} ${escapeHelp(def.help)}\n# TYPE ${def.name} ${def.type}`;
}

/** Every metric with at least one series, HELP and TYPE first, metrics apart by a blank line. */
export function exposition(samples: SampleSet): string {
  return atOnce(expositionSteps(samples));
}

/** exposition in steps of a few hundred series: a big host has tens of thousands. */
export function* expositionSteps(samples: SampleSet): Generator<void, string> {
  const blocks: string[] = [];
  let done = 0;
  for (const [key, series] of samples.series) {
    const def = metrics[key];
    // One line per label set: a gauge set twice keeps the last value, a counter adds up.
    const lines = new Map<string, number>();
    for (const { labels, value } of series) {
      const text = labelText(def.labels, labels);
      const known = lines.get(text);
      lines.set(text, def.type === "counter" && known !== undefined ? known + value : value);
      if (++done % itemsPerStep === 0) yield;
    }
    let block = metricHeader(def);
    for (const [labels, value] of lines) {
      block += `\n${def.name}${labels} ${valueText(value)}`;
      if (++done % itemsPerStep === 0) yield;
    }
    blocks.push(block);
  }
  return `${blocks.join("\n\n")}\n`;
}
