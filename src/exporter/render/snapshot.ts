import type { MetricKey } from "../catalogue.js";
import { Assembly } from "./assembly.js";
import { expositionSteps } from "./exposition.js";
import { SampleSet } from "./sample-set.js";
import type { SamplesInput } from "./samples.js";
import { addTrailer, preludeSteps, sampleSteps } from "./samples.js";
import { inSlices } from "./slices.js";
import { ChunkCache } from "./chunk-cache.js";
import { SuccessLines } from "./success-lines.js";
import type { UserChunk } from "./user-chunk.js";
import type { FactsByCollector } from "../../collectors/registry.js";
import type { TargetView } from "../schedule/views.js";

/** What a rendering is made from: series, the scheduler's states, or the steps that take them. */
export type SnapshotSource = SampleSet | SamplesInput | Generator<void, SamplesInput>;

/** The longest stretch of a rendering between two turns of the event loop, by default. */
export const defaultSliceMs = 2;

/**
 * The rootless_* part of /metrics. From the scheduler's states, incrementally: each user's part
 * is rendered once per change (user-chunk.ts) and the whole is copied together from the parts
 * (assembly.ts), so a rendering where nothing changed renders no user. A SampleSet (tests, the
 * `check` command) is rendered whole, and so are the states whenever the parts could overlap
 * (two users of one name, a series naming another user): the output is the same either way.
 * Every way is a generator of small steps, run in slices of `sliceMs` (slices.ts). Renderings
 * run one after the other: the chunks are pointed at each new body as it is finished.
 */
export class SnapshotRenderer {
  private readonly chunks = new ChunkCache();
  private readonly success = new SuccessLines(this.chunks.ordinals);
  /** Each metric's number of parts at the last rendering (assembly.ts). */
  private readonly sizes = new Map<MetricKey, number>();
  /** Each metric's block of the last rendering, for the next to keep where unchanged. */
  private readonly blocks = new Map<MetricKey, Buffer>();
  /** Users rendered by the last rendering, and whether it had to render everything. */
  last = { rendered: 0, whole: false };
  /**
   * The blocks of the rendering before that the last one replaced: nothing here reads them any
   * more, so whoever served them may free them (release) once no answer writes them.
   */
  replaced: Buffer[] = [];

  /** `sliceMs`: the longest stretch of synchronous work between two turns of the event loop. */
  constructor(private readonly sliceMs = defaultSliceMs) {}

  /** The rendering before, settled or not: the next one starts once it has. */
  private previous: Promise<unknown> = Promise.resolve();

  /** The rendering in one buffer (tests, the whole of a small body): renderParts joined. */
  async render(source: SnapshotSource): Promise<Buffer> {
    const parts = await this.renderParts(source);
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  }

  /**
   * The rendering as the buffers to write one after the other: one per metric block, those that
   * did not change the last rendering's very buffers (assembly.ts), or one buffer when whole.
   */
  renderParts(source: SnapshotSource): Promise<Buffer[]> {
    const next = this.previous.then(() => inSlices(this.steps(source), this.sliceMs));
    this.previous = next.catch(() => undefined);
    return next;
  }

  private *steps(source: SnapshotSource): Generator<void, Buffer[]> {
    this.replaced = [];
    if (source instanceof SampleSet) return [Buffer.from(yield* expositionSteps(source))];
    const samples = "next" in source ? yield* source : source;
    const assembly = new Assembly(this.chunks.ordinals, this.sizes, this.blocks);
    yield* preludeSteps(samples, assembly, (runs) => {
      const lines = this.success.runsOf(runs);
      for (const chunk of lines ?? []) assembly.addLines(chunk);
      return lines !== undefined;
    });
    const names = new Set<string>();
    const chunks: UserChunk[] = [];
    const before = this.chunks.renders;
    // Indexed (an iterator result per user otherwise, in this generator: see assembly.ts).
    const { views } = samples;
    for (let i = 0; i < views.length; i++) {
      const view = views[i] as TargetView<FactsByCollector>;
      if (names.has(view.target.name)) {
        // Swept here too: the cache is keyed by target object, so each replaced target of a
        // user would otherwise stay for as long as two users share a name (heaprev).
        this.chunks.sweep();
        return yield* this.whole(samples, this.chunks.renders - before);
      }
      names.add(view.target.name);
      chunks.push(this.chunks.chunkOf(view));
      yield;
    }
    const rendered = this.chunks.renders - before;
    this.chunks.sweep();
    for (let i = 0; i < chunks.length; i++) {
      const chunk = chunks[i] as UserChunk;
      if (!assembly.fits(chunk)) return yield* this.whole(samples, rendered);
      assembly.addChunk(chunk);
      yield;
    }
    addTrailer(samples, assembly);
    this.last = { rendered, whole: false };
    const parts = yield* assembly.toParts();
    this.replaced = assembly.replaced;
    return parts;
  }

  /** As before the chunks, in steps too: a big host's rendering lets scrapes in between. */
  private *whole(samples: SamplesInput, rendered: number): Generator<void, Buffer[]> {
    this.last = { rendered: rendered + samples.views.length, whole: true };
    const set = new SampleSet();
    yield* sampleSteps(samples, set);
    return [Buffer.from(yield* expositionSteps(set))];
  }
}
