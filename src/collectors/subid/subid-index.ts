import type { PasswdEntry } from "../../host/accounts.js";
import { readPasswd } from "../../host/accounts.js";
import type { MountTable } from "../../host/mount-table.js";
import type { ReadFailure } from "../../host/files.js";
import { fileIdentity, readText } from "../../host/files.js";
import type { HostRoots } from "../../host/paths.js";
import { rootPath } from "../../host/paths.js";
import type { Target } from "../../host/target.js";
import type { Cycle, HostState } from "../state.js";
import { kept } from "../state.js";
import type { SubidParseError, SubidRange } from "./subid-file.js";
import { decimalValue, parseSubidFile } from "./subid-file.js";

/* /etc/subuid and /etc/subgid of the host, indexed by owner once per change for every user. */

export interface SubidSummary {
  /** IDs allotted to the user: the size of the union of its ranges. */
  readonly size: number;
  readonly ranges: number;
  /** The user's ranges that overlap a range of another owner. */
  readonly overlaps: number;
}

/** A range of IDs: the first and how many. */
export interface IdRange {
  readonly start: number;
  readonly count: number;
}

export function unionSize(ranges: readonly IdRange[]): number {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  let size = 0;
  let reach = -1;
  for (const range of sorted) {
    const end = range.start + range.count;
    if (end <= reach) continue;
    size += end - Math.max(range.start, reach);
    reach = end;
  }
  return size;
}

export interface SubidFileFacts {
  /** The host path, e.g. /etc/subuid, as it appears in labels. */
  readonly path: string;
  /** "ok", or why the file could not be read; a missing file means no ranges at all. */
  readonly state: "ok" | ReadFailure;
  readonly parseErrors: number;
  /** The first few malformed lines, for the log and the check report. */
  readonly firstParseErrors: readonly SubidParseError[];
  /** Absent when the file exists but cannot be read: the user's IDs are then unknown. */
  readonly summary?: SubidSummary;
}

/** One file's ranges, parsed once per change for every user of the host. */
export interface SubidFileIndex {
  readonly path: string;
  readonly state: "ok" | ReadFailure;
  readonly parseErrors: number;
  readonly firstParseErrors: readonly SubidParseError[];
  /** Ranges by owner: a uid where the owner is numeric or a known login, else the name. */
  readonly byOwner: ReadonlyMap<number | string, readonly SubidRange[]>;
  /** The ranges (by identity) that overlap a range of another owner. */
  readonly overlapping: ReadonlySet<SubidRange>;
}

/** /etc/subuid and /etc/subgid of the host, with the notes their reading produced. */
export interface SubidIndex {
  readonly uid: SubidFileIndex;
  readonly gid: SubidFileIndex;
  readonly notes: readonly string[];
}

/** A name and its numeric uid are the same owner. */
function ownerKey(owner: string, uidByName: ReadonlyMap<string, number>): number | string {
  const numeric = decimalValue(owner);
  return numeric >= 0 ? numeric : (uidByName.get(owner) ?? owner);
}

/**
 * Ranges by owner and the ranges that overlap another owner's, in one sort and sweep: after
 * sorting by start, a range can only overlap the ones that start before it ends.
 */
export function indexRanges(
  ranges: readonly SubidRange[],
  passwd: readonly PasswdEntry[],
): Pick<SubidFileIndex, "byOwner" | "overlapping"> {
  const uidByName = new Map(passwd.map((entry) => [entry.name, entry.uid] as const));
  const byOwner = new Map<number | string, SubidRange[]>();
  const keyed = ranges.map((range) => ({ range, key: ownerKey(range.owner, uidByName) }));
  for (const { range, key } of keyed) {
    let list = byOwner.get(key);
    if (!list) byOwner.set(key, (list = []));
    list.push(range);
  }
  // Kept for as long as the files do not change: each list copied to its length (V8 grows an
  // array made by `push` to 17 slots for its first element, ~270 bytes a user over both files at
  // 10,000 users; docs/performance.md "heap2"). Map.set on a key it has keeps the table's size.
  for (const [key, list] of byOwner) byOwner.set(key, list.slice());
  const sorted = [...keyed].sort((a, b) => a.range.start - b.range.start);
  const overlapping = new Set<SubidRange>();
  for (let i = 0; i < sorted.length; i++) {
    const mine = sorted[i];
    if (!mine) continue;
    const end = mine.range.start + mine.range.count;
    for (let j = i + 1; j < sorted.length; j++) {
      const other = sorted[j];
      if (!other || other.range.start >= end) break;
      if (other.key !== mine.key) {
        overlapping.add(mine.range);
        overlapping.add(other.range);
      }
    }
  }
  return { byOwner, overlapping };
}

/** The user's ranges in one file, by uid and, for a login /etc/passwd does not list, by name. */
export function ownRanges(
  index: Pick<SubidFileIndex, "byOwner">,
  target: Pick<Target, "name" | "uid">,
): readonly SubidRange[] {
  return [...(index.byOwner.get(target.uid) ?? []), ...(index.byOwner.get(target.name) ?? [])];
}

/** The summary of one user from the index: the same numbers as summarizeFor. */
export function summaryFromIndex(
  index: Pick<SubidFileIndex, "byOwner" | "overlapping">,
  target: Pick<Target, "name" | "uid">,
): SubidSummary {
  const own = ownRanges(index, target);
  return {
    size: unionSize(own),
    ranges: own.length,
    overlaps: own.filter((range) => index.overlapping.has(range)).length,
  };
}

async function readIndex(roots: HostRoots, mounts: MountTable): Promise<SubidIndex> {
  const passwd = await readPasswd(roots, mounts);
  const notes: string[] = [];
  const readKind = async (path: string): Promise<SubidFileIndex> => {
    const result = await readText(mounts, rootPath(roots, path));
    const empty = { byOwner: new Map(), overlapping: new Set<SubidRange>() };
    if (!result.ok) {
      notes.push(
        result.reason === "missing"
          ? `${path} does not exist: no user has subordinate IDs`
          : `${path} cannot be read (${result.detail}); subordinate IDs are unknown`,
      );
      return { path, state: result.reason, parseErrors: 0, firstParseErrors: [], ...empty };
    }
    const { ranges, errors } = parseSubidFile(result.text);
    const firstParseErrors = errors.slice(0, 5);
    for (const error of firstParseErrors) notes.push(`${path} line ${error.line}: ${error.reason}`);
    return {
      path,
      state: "ok",
      parseErrors: errors.length,
      firstParseErrors,
      ...indexRanges(ranges, passwd),
    };
  };
  const [uid, gid] = await Promise.all([readKind("/etc/subuid"), readKind("/etc/subgid")]);
  return { uid, gid, notes };
}

/**
 * The host's subordinate IDs, parsed again only when /etc/passwd, /etc/subuid or /etc/subgid
 * changes (one stat each): a big /etc/subuid costs tens of milliseconds, and host mode asks for
 * every user of every cycle. Kept in the exporter's host state.
 */
export const lastIndex = kept(
  "subid.index",
  (): { last?: { readonly key: string; readonly index: SubidIndex } } => ({}),
);

async function readIndexIfChanged(roots: HostRoots, host: HostState): Promise<SubidIndex> {
  const kept = host.own(lastIndex);
  const identities = await Promise.all(
    ["/etc/passwd", "/etc/subuid", "/etc/subgid"].map((path) =>
      fileIdentity(host.mounts, rootPath(roots, path)),
    ),
  );
  const key = JSON.stringify([roots, identities]);
  if (kept.last?.key === key) return kept.last.index;
  const index = await readIndex(roots, host.mounts);
  kept.last = identities.every((identity) => identity !== undefined) ? { key, index } : undefined;
  return index;
}

/** /etc/subuid and /etc/subgid, checked for changes once a cycle for every user. */
export const subidIndex = (cycle: Cycle, roots: HostRoots, host: HostState): Promise<SubidIndex> =>
  cycle.once("subid-index", () => readIndexIfChanged(roots, host));
