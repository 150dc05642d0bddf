import type { MetricKey } from "../catalogue.js";
import { metrics } from "../catalogue.js";
import { labelText, metricHeader, valueText } from "./exposition.js";
import type { Labels, SeriesSink } from "./sample-set.js";
import { hostKey } from "./sample-set.js";
import { itemsPerStep } from "./slices.js";
import type { UserChunk } from "./user-chunk.js";

/** One line of a merged series: its value is final only once every series is in. */
interface Line {
  readonly text: string;
  value: number;
}

/** Bytes [start, end) of a user's chunk. */
interface Slice {
  readonly bytes: Buffer;
  readonly start: number;
  readonly end: number;
}

interface Block {
  readonly metric: MetricKey;
  readonly parts: (Line | Slice)[];
  readonly lines: Map<string, Line>;
}

/**
 * /metrics put together from series written one by one (the exporter's own, the host's) and from
 * users' chunks, byte for byte what exposition(samplesFrom(...)) writes: one block per metric in
 * the order metrics first appear, a host-scope series kept the first time, one line per label set
 * (a gauge's last value, a counter's sum), a user's own lines copied from their chunk.
 */
export class Assembly implements SeriesSink {
  private readonly blocks = new Map<MetricKey, Block>();
  private readonly hostSeries = new Set<string>();
  /** Metrics with a user-labelled series written here (one per collector and user). */
  private readonly userMetrics = new Set<MetricKey>();

  /** A series, as SampleSet.add takes it. */
  add(metric: MetricKey, labels: Labels, value: number): void {
    this.merge(metric, labels, value, "user" in labels ? undefined : hostKey(metric, labels));
  }

  /** `hostKey`: a host-scope series' key in SampleSet, kept the first time only. */
  private merge(metric: MetricKey, labels: Labels, value: number, key: string | undefined): void {
    if (key !== undefined) {
      if (this.hostSeries.has(key)) return;
      this.hostSeries.add(key);
    } else this.userMetrics.add(metric);
    const def = metrics[metric];
    const block = this.block(metric);
    const text = labelText(def.labels, labels);
    const known = block.lines.get(text);
    if (known) known.value = def.type === "counter" ? known.value + value : value;
    else {
      const line = { text, value };
      block.lines.set(text, line);
      block.parts.push(line);
    }
  }

  /**
   * False when the chunk's own lines could share a label set with a line from elsewhere (a series
   * naming another user, or one of the same metric written here): the caller renders it all then.
   * Users' names must be unique among the chunks added: the caller checks.
   */
  fits(chunk: UserChunk): boolean {
    if (chunk.foreign) return false;
    for (const metric of chunk.ownMetrics) if (this.userMetrics.has(metric)) return false;
    return true;
  }

  /** A user's chunk (one that fits), in the order it was written. */
  addChunk(chunk: UserChunk): void {
    for (const part of chunk.parts) {
      if (part.kind === "shared") this.merge(part.metric, part.labels, part.value, part.hostKey);
      else this.block(part.metric).parts.push(part);
    }
  }

  /**
   * The text format in one buffer, in steps of a few hundred lines or parts: the caller lets the
   * event loop in between. The buffer is the caller's only once whole.
   */
  *toBuffer(): Generator<void, Buffer> {
    const texts: (string | Slice)[] = [];
    let length = 0;
    let done = 0;
    const text = (value: string): void => {
      texts.push(value);
      length += Buffer.byteLength(value);
    };
    for (const block of this.blocks.values()) {
      const def = metrics[block.metric];
      text(length === 0 ? metricHeader(def) : `\n\n${metricHeader(def)}`);
      for (const part of block.parts) {
        if ("bytes" in part) {
          texts.push(part);
          length += part.end - part.start;
        } else text(`\n${def.name}${part.text} ${valueText(part.value)}`);
        if (++done % itemsPerStep === 0) yield;
      }
      yield;
    }
    text("\n");
    // Copied in steps too: 36 MB at 10,000 users.
    const out = Buffer.allocUnsafeSlow(length);
    let at = 0;
    for (const part of texts) {
      if (typeof part === "string") at += out.write(part, at);
      else at += part.bytes.copy(out, at, part.start, part.end);
      if (++done % itemsPerStep === 0) yield;
    }
    return out;
  }

  private block(metric: MetricKey): Block {
    let block = this.blocks.get(metric);
    if (!block) this.blocks.set(metric, (block = { metric, parts: [], lines: new Map() }));
    return block;
  }
}
