import { metrics } from "../catalogue.js";
import type { MetricDef } from "../catalogue.js";
import type { Labels, SampleSet } from "./sample-set.js";

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
  const blocks: string[] = [];
  for (const step of expositionSteps(samples, blocks)) void step;
  return `${blocks.join("\n\n")}\n`;
}

/** exposition, letting the event loop in every `batch` series (a big host has tens of thousands). */
export async function expositionInSteps(samples: SampleSet, batch = 5000): Promise<string> {
  const blocks: string[] = [];
  let done = 0;
  for (const step of expositionSteps(samples, blocks)) {
    void step;
    if (++done % batch === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  return `${blocks.join("\n\n")}\n`;
}

/** Appends one block per metric to `blocks`, one step per series. */
function* expositionSteps(samples: SampleSet, blocks: string[]): Generator<void> {
  for (const [key, series] of samples.series) {
    const def = metrics[key];
    // One line per label set: a gauge set twice keeps the last value, a counter adds up.
    const lines = new Map<string, number>();
    for (const { labels, value } of series) {
      const text = labelText(def.labels, labels);
      const known = lines.get(text);
      lines.set(text, def.type === "counter" && known !== undefined ? known + value : value);
      yield;
    }
    let block = metricHeader(def);
    for (const [labels, value] of lines) block += `\n${def.name}${labels} ${valueText(value)}`;
    blocks.push(block);
  }
}
