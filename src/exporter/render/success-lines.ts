import { metrics } from "../catalogue.js";
import { labelText, valueText } from "./exposition.js";
import { bool } from "./sample-set.js";
import { ownBytes } from "./own-bytes.js";
import type { MetricOrdinals } from "./user-chunk.js";
import { UserChunk } from "./user-chunk.js";

/** A user collector's last outcome for one user, as SamplesInput.userRuns lists them. */
export interface UserRunLike {
  readonly collector: string;
  readonly user: string;
  readonly ok: boolean;
}

/** One collector's run of rootless_collector_user_success lines, and what it was made from. */
interface Group {
  readonly collector: string;
  /** The users' names in order (the same strings while the targets are the same objects). */
  readonly users: readonly string[];
  /** 1 where the user's run succeeded. */
  readonly oks: Uint8Array;
  /** Its lines as one run; its bytes are in the body it was last put into (assembly.ts). */
  readonly chunk: UserChunk;
}

const noShared = { key: "", series: [] } as const;

/**
 * The rootless_collector_user_success lines (one per user collector and user: 7,000 at 1,000
 * users), kept as bytes per collector like the users' parts (user-chunk.ts): a collector's run of
 * lines is rendered again only when its list of (user, outcome) changed, and copied into each new
 * body from the last one otherwise. Made line by line, they were ~9 MiB of garbage a rendering at
 * 1,000 users (a labels object, a label text, a merged line and a Map entry each, then their text).
 * The bytes are what the per-line merge writes (labelText, valueText), since the runs of one
 * collector never share a label set: a list that names one user twice is not made into bytes at
 * all (runsOf gives undefined, and the caller merges line by line).
 */
export class SuccessLines {
  private groups: Group[] = [];
  private readonly ordinal: number;

  constructor(ordinals: MetricOrdinals) {
    this.ordinal = ordinals.of("collectorUserSuccess");
  }

  /**
   * The runs of `runs` (grouped by collector in their order), reused where a collector's list is
   * the one before; undefined when a collector lists a user twice or comes in two groups.
   */
  runsOf(runs: readonly UserRunLike[]): UserChunk[] | undefined {
    const groups = this.groupsOf(runs);
    // Groups not put into this rendering's body are forgotten: their bytes are in a body that
    // a later rendering may free (own-bytes.ts), so none is read again from there.
    this.groups = groups ?? [];
    return groups?.map((group) => group.chunk);
  }

  private groupsOf(runs: readonly UserRunLike[]): Group[] | undefined {
    const groups: Group[] = [];
    for (let from = 0; from < runs.length;) {
      const collector = (runs[from] as UserRunLike).collector;
      // A collector's runs come together (userRunSteps); listed again further on, they could
      // share a label set with its first group's: merged line by line then.
      if (groups.some((group) => group.collector === collector)) return undefined;
      let to = from + 1;
      while (to < runs.length && (runs[to] as UserRunLike).collector === collector) to++;
      const known = this.groups[groups.length];
      const group =
        known !== undefined && same(known, runs, from, to)
          ? known
          : this.render(collector, runs, from, to);
      if (!group) return undefined;
      groups.push(group);
      from = to;
    }
    return groups;
  }

  private render(
    collector: string,
    runs: readonly UserRunLike[],
    from: number,
    to: number,
  ): Group | undefined {
    const def = metrics.collectorUserSuccess;
    const users: string[] = [];
    const oks = new Uint8Array(to - from);
    const seen = new Set<string>();
    let text = "";
    for (let at = from; at < to; at++) {
      const run = runs[at] as UserRunLike;
      if (seen.has(run.user)) return undefined;
      seen.add(run.user);
      users.push(run.user);
      oks[at - from] = run.ok ? 1 : 0;
      const labels = labelText(def.labels, { collector, user: run.user });
      text += `\n${def.name}${labels} ${valueText(bool(run.ok))}`;
    }
    const bytes = ownBytes(text);
    const index = Uint32Array.of(this.ordinal, 0, bytes.length, 0);
    return { collector, users, oks, chunk: new UserChunk([bytes], index, noShared, false) };
  }
}

function same(group: Group, runs: readonly UserRunLike[], from: number, to: number): boolean {
  if (to - from !== group.users.length) return false;
  for (let at = from; at < to; at++) {
    const run = runs[at] as UserRunLike;
    if (
      run.collector !== group.collector ||
      run.user !== group.users[at - from] ||
      (run.ok ? 1 : 0) !== group.oks[at - from]
    )
      return false;
  }
  return true;
}
