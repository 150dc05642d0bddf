import type { FactsByCollector } from "../../collectors/registry.js";
import type { MetricKey } from "../catalogue.js";
import { metrics } from "../catalogue.js";
import type { TargetView } from "../schedule/views.js";
import { labelText, valueText } from "./exposition.js";
import type { Labels, SeriesSink } from "./sample-set.js";
import { hostKey } from "./sample-set.js";
import { addTarget } from "./samples.js";
import { ownBytes } from "./own-bytes.js";

/** A series of a user's render that is not theirs alone, merged with everyone's at assembly. */
export interface SharedSeries {
  readonly metric: MetricKey;
  readonly labels: Labels;
  readonly value: number;
  /** SampleSet's key of a host-scope series (no user label), made once with the chunk. */
  readonly hostKey: string | undefined;
}

/**
 * A user's shared series, kept once for every user whose render wrote the same ones (chunk-cache.ts):
 * most are host-scope (a sysctl, a module), the same for every user who sees the same host facts.
 */
export interface SharedList {
  /** What the list is, for the table that shares it. */
  readonly key: string;
  readonly series: readonly SharedSeries[];
}

/** The metrics' small numbers, for the chunks' typed index. One per ChunkCache. */
export class MetricOrdinals {
  readonly keys = Object.keys(metrics) as MetricKey[];
  private readonly ordinals = new Map(this.keys.map((key, i) => [key, i]));

  of(metric: MetricKey): number {
    const ordinal = this.ordinals.get(metric);
    if (ordinal === undefined) throw new Error(`unknown metric ${metric}`);
    return ordinal;
  }
}

/**
 * Numbers per run of a user's own lines of one metric ("\nline" each) in `UserChunk.runs`: the
 * metric's ordinal, the run's bytes [start, end) in its buffer (`UserChunk.bufferOf`), and how
 * many of the user's shared series were written before it (the assembly keeps the order the
 * user's series were written in).
 */
export const runFields = 4;

/**
 * One user's part of /metrics, rendered once per change of what it is made of: bytes and a typed
 * index, no object per line or run. Once a rendering has put the runs into its body, `parts` are
 * that body's buffers (one per metric block) and the runs' offsets are where they are in them
 * (assembly.ts), so the users' lines are held once, in the body being served, not a second time.
 */
export class UserChunk {
  constructor(
    /** The chunk's own bytes when rendered (one buffer); the last body's buffers after. */
    public parts: readonly Buffer[],
    /** `runFields` numbers per run, in the order written; offsets change with `parts`. */
    readonly runs: Uint32Array,
    readonly shared: SharedList,
    /** A series labelled with another user's name, or with a user label its metric lacks. */
    readonly foreign: boolean,
    /**
     * Which of `parts` holds a metric's run, by the metric's ordinal: one table per rendering for
     * all its chunks (the body's block of each metric); none while the chunk has its own bytes.
     */
    public partOf: Uint16Array | undefined = undefined,
  ) {}

  /** The buffer holding the run at `at` in `runs`. */
  bufferOf(at: number): Buffer {
    return this.parts[this.partOf ? (this.partOf[this.runs[at] ?? 0] ?? 0) : 0] as Buffer;
  }
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
      this.items.push({ metric, labels, value, hostKey: key });
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

  finish(ordinals: MetricOrdinals, share: (series: SharedSeries[]) => SharedList): UserChunk {
    const texts: string[] = [];
    const fields: number[] = [];
    const shared: SharedSeries[] = [];
    let offset = 0;
    let run: { metric: MetricKey; text: string } | undefined;
    const close = (): void => {
      if (!run) return;
      const end = offset + Buffer.byteLength(run.text);
      fields.push(ordinals.of(run.metric), offset, end, shared.length);
      texts.push(run.text);
      offset = end;
      run = undefined;
    };
    for (const item of this.items) {
      if ("labels" in item) {
        close();
        shared.push(item);
        continue;
      }
      if (run?.metric !== item.metric) close();
      run ??= { metric: item.metric, text: "" };
      run.text += `\n${metrics[item.metric].name}${item.text} ${valueText(item.value)}`;
    }
    close();
    const bytes = offset === 0 ? Buffer.alloc(0) : ownBytes(texts.join(""));
    return new UserChunk([bytes], Uint32Array.from(fields), share(shared), this.foreign);
  }
}

/** What a list of shared series is, as a key: equal keys, equal series in the same order. */
export function sharedKey(series: readonly SharedSeries[]): string {
  let key = "";
  for (const s of series) {
    const labels =
      s.hostKey !== undefined ? `h${s.hostKey}` : `u${s.metric}\0${JSON.stringify(s.labels)}`;
    key += `${labels}\0${Object.is(s.value, -0) ? "-0" : String(s.value)}\n`;
  }
  return key;
}

/**
 * Renders one user's series (addTarget) into a chunk; `share` gives the list of shared series to
 * keep (ChunkCache gives one already kept for another user when equal).
 */
export function userChunk(
  view: TargetView<FactsByCollector>,
  ordinals: MetricOrdinals,
  share: (series: SharedSeries[]) => SharedList = (series) => ({ key: sharedKey(series), series }),
): UserChunk {
  const builder = new ChunkBuilder(view.target.name);
  addTarget(builder, view);
  return builder.finish(ordinals, share);
}
