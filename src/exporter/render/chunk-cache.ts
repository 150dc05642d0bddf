import type { FactsByCollector } from "../../collectors/registry.js";
import { moduleList } from "../../collectors/registry.js";
import type { Target } from "../../host/target.js";
import type { TargetView } from "../schedule/views.js";
import type { SharedList, SharedSeries, UserChunk } from "./user-chunk.js";
import { MetricOrdinals, runFields, sharedKey, userChunk } from "./user-chunk.js";
import { release } from "./own-bytes.js";

interface Cached {
  /**
   * The last view asked for with this chunk: what it was rendered from is its target, whether it
   * is complete and each collector's facts. The view itself, not a list of those (~200 bytes a
   * user at 10,000 users): the scheduler keeps the same object while the user's view is equal
   * (views.ts), so this holds nothing the scheduler does not hold too.
   */
  view: TargetView<FactsByCollector>;
  readonly chunk: UserChunk;
  /** The sweep generation that last asked for it. */
  seen: number;
}

/**
 * Every watched user's chunk, rebuilt only when what addTarget reads changed: the target, whether
 * the view is complete, or one of the facts objects. The scheduler keeps a facts object when a
 * run brings equal facts (ledger.ts, shared-facts.ts), so an unchanged user is a few identity
 * comparisons. Equal lists of shared series are kept once for all the users who wrote them.
 */
export class ChunkCache {
  readonly ordinals = new MetricOrdinals();
  /**
   * By the user's target object: a chunk is made again for another target anyway (same), and a
   * key string made per user and rendering was garbage, and a cons string and its flat copy kept
   * per user (~60 bytes).
   */
  private readonly chunks = new Map<Target, Cached>();
  /** The shared lists the chunks hold, by what they are; rebuilt by sweep when chunks changed. */
  private shared = new Map<string, SharedList>();
  private generation = 0;
  private changed = false;
  /** Users rendered since this cache was made (a counter: a rendering reads its difference). */
  renders = 0;

  private readonly share = (series: SharedSeries[]): SharedList => {
    const key = sharedKey(series);
    let list = this.shared.get(key);
    if (!list) this.shared.set(key, (list = { key, series }));
    return list;
  };

  /** The chunk of `view`, rendered now if what it is made of changed. */
  chunkOf(view: TargetView<FactsByCollector>): UserChunk {
    const key = view.target;
    const facts = view.facts as Readonly<Record<string, unknown>>;
    const known = this.chunks.get(key);
    if (known && (known.view === view || this.same(known.view, view, facts))) {
      known.seen = this.generation;
      known.view = view;
      return known.chunk;
    }
    const made = userChunk(view, this.ordinals, this.share);
    // Rendered again to the same bytes (new facts objects, the same values: a user's second
    // cycle): the chunk before, whose runs are in the body served, is kept and the new bytes freed
    // at once, so a cycle that renders every user again holds no second body's worth of them.
    const chunk = known && sameChunk(known.chunk, made) ? known.chunk : made;
    if (chunk !== made) release(made.parts[0] as Buffer);
    this.chunks.set(key, { view, chunk, seen: this.generation });
    this.renders++;
    this.changed = true;
    return chunk;
  }

  /** Whether `view` is made of what `known` was: the same target, completeness, facts objects. */
  private same(
    known: TargetView<FactsByCollector>,
    view: TargetView<FactsByCollector>,
    facts: Readonly<Record<string, unknown>>,
  ): boolean {
    if (known.target !== view.target || known.complete !== view.complete) return false;
    const before = known.facts as Readonly<Record<string, unknown>>;
    // Indexed: an entries() iterator made an array per module and user (~0.6 MiB a rendering).
    for (let i = 0; i < moduleList.length; i++) {
      const name = (moduleList[i] as (typeof moduleList)[number]).name;
      if (before[name] !== facts[name]) return false;
    }
    return true;
  }

  /**
   * Forgets the users not asked for since the last sweep (no longer watched), and the shared
   * lists no chunk holds any more.
   */
  sweep(): void {
    // forEach, not for...of over entries: no [key, value] array an entry (10,000 a rendering).
    this.chunks.forEach((cached, key) => {
      if (cached.seen !== this.generation) {
        this.chunks.delete(key);
        this.changed = true;
      }
    });
    this.generation++;
    if (!this.changed) return;
    this.changed = false;
    this.shared = new Map();
    for (const { chunk } of this.chunks.values()) this.shared.set(chunk.shared.key, chunk.shared);
  }

  get size(): number {
    return this.chunks.size;
  }
}

/** Whether `made` (its own bytes) writes what `known` writes, run by run, with the same series. */
function sameChunk(known: UserChunk, made: UserChunk): boolean {
  const a = known.runs;
  const b = made.runs;
  if (known.shared !== made.shared || known.foreign !== made.foreign || a.length !== b.length)
    return false;
  const bytes = made.parts[0] as Buffer;
  for (let at = 0; at < a.length; at += runFields) {
    const start = a[at + 1] ?? 0;
    const end = a[at + 2] ?? 0;
    if (
      a[at] !== b[at] ||
      a[at + 3] !== b[at + 3] ||
      end - start !== (b[at + 2] ?? 0) - (b[at + 1] ?? 0)
    )
      return false;
    if (known.bufferOf(at).compare(bytes, b[at + 1], b[at + 2], start, end) !== 0) return false;
  }
  return true;
}
