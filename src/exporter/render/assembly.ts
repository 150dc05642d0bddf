import type { MetricKey } from "../catalogue.js";
import { metrics } from "../catalogue.js";
import { labelText, metricHeader, valueText } from "./exposition.js";
import type { Labels, SeriesSink } from "./sample-set.js";
import { hostKey } from "./sample-set.js";
import type { BlockParts, Line } from "./block-bytes.js";
import { copyBlock, sameBlock } from "./block-bytes.js";
import { release } from "./own-bytes.js";
import { itemsPerStep } from "./slices.js";
import type { MetricOrdinals, SharedSeries } from "./user-chunk.js";
import { UserChunk, runFields } from "./user-chunk.js";

interface Block extends BlockParts {
  readonly metric: MetricKey;
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
 * The body it makes is where the chunks' runs are kept from then on: toParts copies each run into
 * its block's buffer (or finds it in the last rendering's, unchanged), then points the chunk at the
 * body's buffers (offsets and buffer), so the next rendering finds an unchanged user's lines in the
 * body being served and nothing holds them twice. One assembly
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
    /** Each metric's block of the last rendering (toParts), kept by the caller too. */
    private readonly last = new Map<MetricKey, Buffer>(),
  ) {}

  /** Lines or parts gone through, for the steps. */
  private done = 0;

  /** After toParts: the last rendering's blocks this one replaced (nothing here reads them). */
  replaced: Buffer[] = [];

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
   * The text format as one buffer per metric block, in steps of a few hundred lines or parts: the
   * caller lets the event loop in between. The buffers are the caller's only once all are made.
   *
   * A block whose bytes would be those of the last rendering's block of the same metric (`last`,
   * kept by the caller and updated here) is that buffer again, compared without being written
   * (an unchanged user's run already lies at its place there): a steady rendering at 10,000 users
   * changes ~2 of ~50 blocks, so the body being built no longer holds a second copy of the 36 MB
   * being served. Then each chunk is pointed at the buffers its runs landed in.
   */
  *toParts(): Generator<void, Buffer[]> {
    const blocks = [...this.blocks.values()];
    let runCount = 0;
    // Indexed loops here and below: in a generator V8 often leaves unoptimized, for...of made an
    // iterator result per element (a block's parts: one per user and metric, 0.4–1.2 MiB of
    // garbage a rendering at 1,000 users, bench/render-garbage.mjs).
    for (let k = 0; k < blocks.length; k++) {
      const block = blocks[k] as Block;
      block.parts.length = block.runAt.length = block.count;
      this.sizes.set(block.metric, block.count);
      for (let i = 0; i < block.parts.length; i++)
        if (block.parts[i] instanceof UserChunk) runCount++;
    }
    const out: Buffer[] = [];
    // Where each run lands (in the order of the blocks and their parts), and in which buffer.
    const moved = new Uint32Array(runCount);
    let firstRun = 0;
    for (let k = 0; k < blocks.length; k++) {
      const block = blocks[k] as Block;
      const def = metrics[block.metric];
      const texts: string[] = [k === 0 ? metricHeader(def) : `\n\n${metricHeader(def)}`];
      let length = Buffer.byteLength(texts[0] as string);
      let runs = 0;
      for (let i = 0; i < block.parts.length; i++) {
        const part = block.parts[i] as Line | UserChunk;
        if (part instanceof UserChunk) {
          const at = block.runAt[i] ?? 0;
          length += (part.runs[at + 2] ?? 0) - (part.runs[at + 1] ?? 0);
          runs++;
        } else {
          const line = `\n${def.name}${part.text} ${valueText(part.value)}`;
          texts.push(line);
          length += Buffer.byteLength(line);
        }
        if (++this.done % itemsPerStep === 0) yield;
      }
      if (k === blocks.length - 1) {
        texts.push("\n");
        length++;
      }
      const last = this.last.get(block.metric);
      const same =
        last !== undefined &&
        last.length === length &&
        (yield* sameBlock(last, block, texts, moved, firstRun));
      out.push(same ? last : yield* copyBlock(length, block, texts, moved, firstRun));
      firstRun += runs;
      yield;
    }
    if (blocks.length === 0) out.push(Buffer.from("\n"));
    // The last rendering's blocks this one does not serve: the caller frees them once no
    // answer writes them (renderer.ts); no chunk reads them after the loop below.
    const kept = new Set(out);
    this.replaced = [...this.last.values()].filter((buffer) => !kept.has(buffer));
    this.last.clear();
    for (let k = 0; k < blocks.length; k++)
      this.last.set((blocks[k] as Block).metric, out[k] as Buffer);
    // All made: the chunks' runs are kept in these buffers from now on (their own bytes are
    // freed at once: a first cycle renders every user, a body's worth), each metric's in its block.
    const partOf = new Uint16Array(this.ordinals.keys.length);
    for (let k = 0; k < blocks.length; k++)
      partOf[this.ordinals.of((blocks[k] as Block).metric)] = k;
    let nextRun = 0;
    const fresh: Buffer[] = [];
    for (let k = 0; k < blocks.length; k++) {
      const block = blocks[k] as Block;
      for (let i = 0; i < block.parts.length; i++) {
        const part = block.parts[i];
        if (!(part instanceof UserChunk)) continue;
        const at = block.runAt[i] ?? 0;
        if (!part.partOf) fresh.push(part.parts[0] as Buffer);
        const start = moved[nextRun++] ?? 0;
        part.runs[at + 2] = start + (part.runs[at + 2] ?? 0) - (part.runs[at + 1] ?? 0);
        part.runs[at + 1] = start;
        part.parts = out;
        part.partOf = partOf;
        if (++this.done % itemsPerStep === 0) yield;
      }
    }
    for (let i = 0; i < fresh.length; i++) {
      release(fresh[i] as Buffer);
      if ((i + 1) % itemsPerStep === 0) yield;
    }
    // A copy for the caller: `out` is the chunks' own table (partOf), which a caller reordering
    // what it was given must not change.
    return out.slice();
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
