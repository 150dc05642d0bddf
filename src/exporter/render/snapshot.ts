import { Assembly } from "./assembly.js";
import { expositionInSteps } from "./exposition.js";
import { SampleSet } from "./sample-set.js";
import type { SamplesInput } from "./samples.js";
import { addPrelude, addTrailer, samplesInSteps } from "./samples.js";
import type { UserChunk } from "./user-chunk.js";
import { ChunkCache } from "./user-chunk.js";

/** Lets the event loop in whenever `sliceMs` of synchronous work has passed since it last did. */
class Slices {
  private since = performance.now();

  constructor(private readonly sliceMs: number) {}

  /** A turn of the event loop when the slice is spent; at once otherwise. */
  async next(): Promise<void> {
    if (performance.now() - this.since < this.sliceMs) return;
    await new Promise((resolve) => setImmediate(resolve));
    this.since = performance.now();
  }
}

/**
 * The rootless_* part of /metrics. From the scheduler's states, incrementally: each user's part
 * is rendered once per change (user-chunk.ts) and the whole is copied together from the parts
 * (assembly.ts), so a rendering where nothing changed renders no user. A SampleSet (tests, the
 * `check` command) is rendered whole, and so are the states whenever the parts could overlap
 * (two users of one name, a series naming another user): the output is the same either way.
 */
export class SnapshotRenderer {
  private readonly chunks = new ChunkCache();
  /** Users rendered by the last rendering, and whether it had to render everything. */
  last = { rendered: 0, whole: false };

  /** `sliceMs`: the longest stretch of synchronous work between two turns of the event loop. */
  constructor(private readonly sliceMs = 5) {}

  async render(samples: SampleSet | SamplesInput): Promise<Buffer> {
    if (samples instanceof SampleSet) return Buffer.from(await expositionInSteps(samples));
    const slices = new Slices(this.sliceMs);
    const assembly = new Assembly();
    addPrelude(samples, assembly);
    const names = new Set<string>();
    const chunks: UserChunk[] = [];
    let rendered = 0;
    for (const view of samples.views) {
      if (names.has(view.target.name)) return this.whole(samples, rendered);
      names.add(view.target.name);
      const { chunk, rendered: fresh } = this.chunks.chunkOf(view);
      chunks.push(chunk);
      if (fresh) rendered++;
      await slices.next();
    }
    this.chunks.sweep();
    for (const chunk of chunks) {
      if (!assembly.fits(chunk)) return this.whole(samples, rendered);
      assembly.addChunk(chunk);
      await slices.next();
    }
    addTrailer(samples, assembly);
    this.last = { rendered, whole: false };
    const steps = assembly.toBuffer();
    for (let step = steps.next(); ; step = steps.next()) {
      if (step.done) return step.value;
      await slices.next();
    }
  }

  /** In steps, as before the chunks: a big host's rendering lets scrapes in between. */
  private async whole(samples: SamplesInput, rendered: number): Promise<Buffer> {
    this.last = { rendered: rendered + samples.views.length, whole: true };
    return Buffer.from(await expositionInSteps(await samplesInSteps(samples)));
  }
}
