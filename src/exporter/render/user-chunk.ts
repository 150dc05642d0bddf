import type { FactsByCollector } from "../../collectors/registry.js";
import { moduleList } from "../../collectors/registry.js";
import type { MetricKey } from "../catalogue.js";
import { metrics } from "../catalogue.js";
import type { TargetView } from "../schedule/views.js";
import { labelText, valueText } from "./exposition.js";
import type { Labels, SeriesSink } from "./sample-set.js";
import { hostKey } from "./sample-set.js";
import { addTarget } from "./samples.js";

/** A run of one user's own lines of one metric: bytes [start, end) of the chunk, "\nline" each. */
export interface OwnLines {
  readonly kind: "own";
  readonly metric: MetricKey;
  /** The chunk's bytes. */
  readonly bytes: Buffer;
  readonly start: number;
  readonly end: number;
}

/** A series of a user's render that is not theirs alone, merged with everyone's at assembly. */
export interface SharedSeries {
  readonly kind: "shared";
  readonly metric: MetricKey;
  readonly labels: Labels;
  readonly value: number;
  /** SampleSet's key of a host-scope series (no user label), made once with the chunk. */
  readonly hostKey: string | undefined;
}

/** One user's part of /metrics, rendered once per change of what it is made of. */
export interface UserChunk {
  readonly bytes: Buffer;
  /** In the order they were written: runs of the user's own lines, and host-scope series. */
  readonly parts: readonly (OwnLines | SharedSeries)[];
  /** The metrics the user has own lines in. */
  readonly ownMetrics: ReadonlySet<MetricKey>;
  /** A series labelled with another user's name, or with a user label its metric lacks. */
  readonly foreign: boolean;
}

interface OwnEntry {
  readonly metric: MetricKey;
  readonly text: string;
  value: number;
}

/**
 * Collects one user's series as addTarget writes them. A series labelled with the user's own name
 * can only meet the same user's (names are checked unique at assembly), so its line is merged
 * here and written once as bytes; a host-scope series (no user label) is kept as a series, for
 * the assembly to keep the first one of all users, as SampleSet does.
 */
class ChunkBuilder implements SeriesSink {
  private readonly items: (OwnEntry | SharedSeries)[] = [];
  private readonly own = new Map<string, OwnEntry>();
  private foreign = false;

  constructor(private readonly user: string) {}

  add(metric: MetricKey, labels: Labels, value: number): void {
    const def = metrics[metric];
    if (!("user" in labels) || labels["user"] !== this.user || !def.labels.includes("user")) {
      const host = !("user" in labels);
      if (!host) this.foreign = true;
      const key = host ? hostKey(metric, labels) : undefined;
      this.items.push({ kind: "shared", metric, labels, value, hostKey: key });
      return;
    }
    const text = labelText(def.labels, labels);
    const key = `${metric}\0${text}`;
    const known = this.own.get(key);
    // One line per label set: a gauge set twice keeps the last value, a counter adds up.
    if (known) known.value = def.type === "counter" ? known.value + value : value;
    else {
      const entry = { metric, text, value };
      this.own.set(key, entry);
      this.items.push(entry);
    }
  }

  finish(): UserChunk {
    const runs: string[] = [];
    const order: (Omit<OwnLines, "bytes"> | SharedSeries)[] = [];
    const ownMetrics = new Set<MetricKey>();
    let offset = 0;
    let run: { metric: MetricKey; text: string } | undefined;
    const close = (): void => {
      if (!run) return;
      const end = offset + Buffer.byteLength(run.text);
      order.push({ kind: "own", metric: run.metric, start: offset, end });
      runs.push(run.text);
      offset = end;
      run = undefined;
    };
    for (const item of this.items) {
      if ("kind" in item) {
        close();
        order.push(item);
        continue;
      }
      if (run?.metric !== item.metric) close();
      run ??= { metric: item.metric, text: "" };
      run.text += `\n${metrics[item.metric].name}${item.text} ${valueText(item.value)}`;
      ownMetrics.add(item.metric);
    }
    close();
    const bytes = Buffer.from(runs.join(""));
    // One literal, not a spread: V8 gave each spread copy a hidden class of its own (30,600 of
    // them at 1,000 users, ~5 MiB of live heap; docs/performance.md#memory).
    const parts = order.map((part): OwnLines | SharedSeries =>
      part.kind === "own"
        ? { kind: "own", metric: part.metric, bytes, start: part.start, end: part.end }
        : part,
    );
    return { bytes, parts, ownMetrics, foreign: this.foreign };
  }
}

/** Renders one user's series (addTarget) into a chunk. */
export function userChunk(view: TargetView<FactsByCollector>): UserChunk {
  const builder = new ChunkBuilder(view.target.name);
  addTarget(builder, view);
  return builder.finish();
}

/**
 * Every watched user's chunk, rebuilt only when what addTarget reads changed: the target, whether
 * the view is complete, or one of the facts objects. The scheduler keeps a facts object when a
 * run brings equal facts (ledger.ts), so an unchanged user is a few identity comparisons.
 */
export class ChunkCache {
  private readonly chunks = new Map<string, { inputs: unknown[]; chunk: UserChunk }>();
  private seen = new Set<string>();

  /** The chunk of `view`, and whether it was rendered now. */
  chunkOf(view: TargetView<FactsByCollector>): { chunk: UserChunk; rendered: boolean } {
    const key = `${view.target.uid}\0${view.target.name}`;
    this.seen.add(key);
    const facts = view.facts as Readonly<Record<string, unknown>>;
    const inputs = [view.target, view.complete, ...moduleList.map((m) => facts[m.name])];
    const known = this.chunks.get(key);
    if (known && known.inputs.every((value, i) => value === inputs[i]))
      return { chunk: known.chunk, rendered: false };
    const chunk = userChunk(view);
    this.chunks.set(key, { inputs, chunk });
    return { chunk, rendered: true };
  }

  /** Forgets the users not asked for since the last sweep (no longer watched). */
  sweep(): void {
    for (const key of this.chunks.keys()) if (!this.seen.has(key)) this.chunks.delete(key);
    this.seen = new Set();
  }

  get size(): number {
    return this.chunks.size;
  }
}
