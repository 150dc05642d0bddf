import type { MetricKey } from "../catalogue.js";
import { metrics } from "../catalogue.js";
import { labelText, metricHeader, valueText } from "./exposition.js";
import type { Labels, SeriesSink } from "./sample-set.js";
import { hostKey } from "./sample-set.js";
import { itemsPerStep } from "./slices.js";
import type { MetricOrdinals, SharedSeries } from "./user-chunk.js";
import { UserChunk, runFields } from "./user-chunk.js";

/** One line of a merged series: its value is final only once every series is in. */
interface Line {
  readonly text: string;
  value: number;
}

interface Block {
  readonly metric: MetricKey;
  /** Lines merged here, and users' chunks whose run of this metric comes there. */
  readonly parts: (Line | UserChunk)[];
  /** For each part: where its run is in the chunk's `runs`, or -1 for a line. */
  readonly runAt: number[];
  /** How many of `parts` (and `runAt`) are written: made at the last rendering's size. */
  count: number;
  readonly lines: Map<string, Line>;
}

/**
 * /metrics put together from series written one by one (the exporter's own, the host's) and from
 * users' chunks, byte for byte what exposition(samplesFrom(...)) writes: one block per metric in
 * the order metrics first appear, a host-scope series kept the first time, one line per label set
 * (a gauge's last value, a counter's sum), a user's own lines copied from their chunk.
 *
 * The body it makes is where the chunks' runs are kept from then on: toBuffer copies each run
 * into it, then points the chunk at the body (bytes and offsets), so the next rendering copies an
 * unchanged user's lines from the body being served and nothing holds them twice. One assembly
 * at a time per cache (SnapshotRenderer renders one at a time).
 */
export class Assembly implements SeriesSink {
  private readonly blocks = new Map<MetricKey, Block>();
  private readonly hostSeries = new Set<string>();
  /** Metrics with a user-labelled series written here (one per collector and user). */
  private readonly userMetrics = new Set<MetricKey>();

  /**
   * `sizes`: each block's number of parts at the last rendering, kept by the caller and updated
   * here, so the blocks' arrays are made at their size (grown by pushes, their copies were ~1 MiB
   * of garbage a rendering at 1,000 users).
   */
  constructor(
    private readonly ordinals: MetricOrdinals,
    private readonly sizes = new Map<MetricKey, number>(),
  ) {}

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
      place(block, line, -1);
    }
  }

  /**
   * False when the chunk's own lines could share a label set with a line from elsewhere (a series
   * naming another user, or one of the same metric written here): the caller renders it all then.
   * Users' names must be unique among the chunks added: the caller checks.
   */
  fits(chunk: UserChunk): boolean {
    if (chunk.foreign) return false;
    const { runs } = chunk;
    for (let at = 0; at < runs.length; at += runFields)
      if (this.userMetrics.has(this.ordinals.keys[runs[at] ?? 0] as MetricKey)) return false;
    return true;
  }

  /** A user's chunk (one that fits), in the order it was written. */
  addChunk(chunk: UserChunk): void {
    const { runs } = chunk;
    const series = chunk.shared.series;
    let next = 0;
    for (let at = 0; at < runs.length; at += runFields) {
      for (const before = runs[at + 3] ?? 0; next < before; next++) this.addShared(series[next]);
      const block = this.block(this.ordinals.keys[runs[at] ?? 0] as MetricKey);
      place(block, chunk, at);
    }
    for (; next < series.length; next++) this.addShared(series[next]);
  }

  /**
   * Lines of user-labelled series made elsewhere as a chunk (success-lines.ts): counted as this
   * assembly's own, as if added one by one, so no user's chunk may share their metric.
   */
  addLines(chunk: UserChunk): void {
    const { runs } = chunk;
    for (let at = 0; at < runs.length; at += runFields)
      this.userMetrics.add(this.ordinals.keys[runs[at] ?? 0] as MetricKey);
    this.addChunk(chunk);
  }

  private addShared(series: SharedSeries | undefined): void {
    if (series) this.merge(series.metric, series.labels, series.value, series.hostKey);
  }

  /**
   * The text format in one buffer, in steps of a few hundred lines or parts: the caller lets the
   * event loop in between. The buffer is the caller's only once whole.
   */
  *toBuffer(): Generator<void, Buffer> {
    const texts: string[] = [];
    let length = 0;
    let runCount = 0;
    let done = 0;
    const text = (value: string): void => {
      texts.push(value);
      length += Buffer.byteLength(value);
    };
    for (const block of this.blocks.values()) {
      block.parts.length = block.runAt.length = block.count;
      this.sizes.set(block.metric, block.count);
    }
    for (const block of this.blocks.values()) {
      const def = metrics[block.metric];
      text(length === 0 ? metricHeader(def) : `\n\n${metricHeader(def)}`);
      for (let i = 0; i < block.parts.length; i++) {
        const part = block.parts[i] as Line | UserChunk;
        if (part instanceof UserChunk) {
          const at = block.runAt[i] ?? 0;
          length += (part.runs[at + 2] ?? 0) - (part.runs[at + 1] ?? 0);
          runCount++;
        } else text(`\n${def.name}${part.text} ${valueText(part.value)}`);
        if (++done % itemsPerStep === 0) yield;
      }
      yield;
    }
    text("\n");
    // Copied in steps too: 36 MB at 10,000 users. `moved`: where each run lands, in order.
    const out = Buffer.allocUnsafeSlow(length);
    const moved = new Uint32Array(runCount);
    let written = 0;
    let nextText = 0;
    let nextRun = 0;
    // Runs that follow each other in the same buffer are copied as one: in a rendering where few
    // users changed, a block's runs are one stretch of the last body (one copy, not one per user
    // and metric, each of which made a typed array: ~1.6 MiB of garbage a rendering at 1,000).
    let from: Buffer | undefined;
    let fromStart = 0;
    let fromEnd = 0;
    const flush = (): void => {
      if (from) written += from.copy(out, written, fromStart, fromEnd);
      from = undefined;
    };
    const write = (): void => {
      flush();
      written += out.write(texts[nextText++] ?? "", written);
    };
    for (const block of this.blocks.values()) {
      write();
      for (let i = 0; i < block.parts.length; i++) {
        const part = block.parts[i] as Line | UserChunk;
        if (part instanceof UserChunk) {
          const at = block.runAt[i] ?? 0;
          const start = part.runs[at + 1] ?? 0;
          if (from !== part.bytes || fromEnd !== start) {
            flush();
            from = part.bytes;
            fromStart = start;
            fromEnd = start;
          }
          moved[nextRun++] = written + fromEnd - fromStart;
          fromEnd = part.runs[at + 2] ?? 0;
        } else write();
        if (++done % itemsPerStep === 0) yield;
      }
    }
    write();
    // The body is whole: the chunks' runs are kept in it from now on (their old bytes go).
    nextRun = 0;
    for (const block of this.blocks.values())
      for (let i = 0; i < block.parts.length; i++) {
        const part = block.parts[i];
        if (!(part instanceof UserChunk)) continue;
        const at = block.runAt[i] ?? 0;
        const start = moved[nextRun++] ?? 0;
        part.runs[at + 2] = start + (part.runs[at + 2] ?? 0) - (part.runs[at + 1] ?? 0);
        part.runs[at + 1] = start;
        part.bytes = out;
        if (++done % itemsPerStep === 0) yield;
      }
    return out;
  }

  private block(metric: MetricKey): Block {
    let block = this.blocks.get(metric);
    if (!block) {
      const size = this.sizes.get(metric) ?? 0;
      const parts = new Array<Line | UserChunk>(size);
      const runAt = new Array<number>(size);
      this.blocks.set(metric, (block = { metric, parts, runAt, count: 0, lines: new Map() }));
    }
    return block;
  }
}

/** Writes a part at the block's next place (within the size it was made at, or past it). */
function place(block: Block, part: Line | UserChunk, at: number): void {
  block.parts[block.count] = part;
  block.runAt[block.count] = at;
  block.count++;
}
