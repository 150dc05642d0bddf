import type { PasswdEntry } from "../../host/accounts.js";
import { readPasswd } from "../../host/accounts.js";
import type { MountTable } from "../../host/mount-table.js";
import type { ReadFailure } from "../../host/files.js";
import { fileIdentity, readText } from "../../host/files.js";
import type { HostRoots } from "../../host/paths.js";
import { rootPath } from "../../host/paths.js";
import type { Target } from "../../host/target.js";
import type { Collector } from "../collector.js";
import type { Cycle, HostState } from "../state.js";
import { kept } from "../state.js";

export interface SubidRange {
  /** The first field as written: a login name or a numeric uid. */
  readonly owner: string;
  readonly start: number;
  readonly count: number;
}

export interface SubidParseError {
  readonly line: number;
  readonly reason: string;
}

export interface ParsedSubidFile {
  readonly ranges: readonly SubidRange[];
  readonly errors: readonly SubidParseError[];
}

/** IDs are 32-bit; (uid_t)-1 is reserved, so a range may not reach past 2^32 - 1. */
const idLimit = 0xffffffff;

type RangeSink = (owner: string, start: number, count: number) => void;

/**
 * subuid(5)/subgid(5): one `owner:start:count` per line, owner a login name or a numeric uid.
 * Blank lines and `#` comments are skipped; every other line that does not fit is an error and the
 * good lines still count. Ranges go to `sink` so a 100k-line file need not become 100k objects.
 */
export function scanSubidFile(text: string, sink: RangeSink): SubidParseError[] {
  const errors: SubidParseError[] = [];
  let lineNo = 0;
  let from = 0;
  // Index arithmetic instead of split/slice/RegExp keeps the garbage collector out of the way.
  while (from <= text.length) {
    let to = text.indexOf("\n", from);
    if (to === -1) to = text.length;
    lineNo++;
    let begin = from;
    let end = to;
    from = to + 1;
    while (begin < end && isSpace(text.charCodeAt(begin))) begin++;
    while (end > begin && isSpace(text.charCodeAt(end - 1))) end--;
    if (begin === end || text.charCodeAt(begin) === 35 /* # */) continue;
    const reason = parseLine(text, begin, end, sink);
    if (reason !== undefined) errors.push({ line: lineNo, reason });
  }
  return errors;
}

export function parseSubidFile(text: string): ParsedSubidFile {
  const ranges: SubidRange[] = [];
  const errors = scanSubidFile(text, (owner, start, count) => ranges.push({ owner, start, count }));
  return { ranges, errors };
}

function isSpace(code: number): boolean {
  return code === 32 || code === 9 || code === 13 || code === 11 || code === 12;
}

/** The decimal of 1 to 10 digits in text[begin, end), or -1. */
function decimalAt(text: string, begin: number, end: number): number {
  if (end <= begin || end - begin > 10) return -1;
  let value = 0;
  for (let i = begin; i < end; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

function decimalValue(field: string): number {
  return decimalAt(field, 0, field.length);
}

function parseLine(text: string, begin: number, end: number, sink: RangeSink): string | undefined {
  const first = text.indexOf(":", begin);
  const second = first === -1 || first >= end ? -1 : text.indexOf(":", first + 1);
  if (second === -1 || second >= end || text.lastIndexOf(":", end - 1) !== second) {
    return `expected owner:start:count, found ${text.slice(begin, end).split(":").length} fields`;
  }
  const owner = text.slice(begin, first);
  if (owner === "" || /\s/.test(owner)) return "owner is empty or contains whitespace";
  const start = decimalAt(text, first + 1, second);
  const count = decimalAt(text, second + 1, end);
  if (start < 0) return `start "${text.slice(first + 1, second)}" is not a decimal number`;
  if (count < 0) return `count "${text.slice(second + 1, end)}" is not a decimal number`;
  if (count === 0) return "count is 0";
  if (start + count > idLimit) return `range ${start}+${count} goes past ${idLimit}`;
  sink(owner, start, count);
  return undefined;
}

export interface SubidSummary {
  /** IDs allotted to the user: the size of the union of its ranges. */
  readonly size: number;
  readonly ranges: number;
  /** The user's ranges that overlap a range of another owner. */
  readonly overlaps: number;
}

function unionSize(ranges: readonly SubidRange[]): number {
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

export interface SubidFacts {
  readonly uid: SubidFileFacts;
  readonly gid: SubidFileFacts;
}

/** One file's ranges, parsed once per change for every user of the host. */
interface SubidFileIndex {
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

/** The summary of one user from the index: the same numbers as summarizeFor. */
export function summaryFromIndex(
  index: Pick<SubidFileIndex, "byOwner" | "overlapping">,
  target: Pick<Target, "name" | "uid">,
): SubidSummary {
  const own = [
    ...(index.byOwner.get(target.uid) ?? []),
    // A login that /etc/passwd under the root does not list is matched by its name.
    ...(index.byOwner.get(target.name) ?? []),
  ];
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

function factsOf(file: SubidFileIndex, target: Target): SubidFileFacts {
  const base = {
    path: file.path,
    state: file.state,
    parseErrors: file.parseErrors,
    firstParseErrors: file.firstParseErrors,
  };
  // A missing file is no ranges at all; an unreadable one leaves the user's IDs unknown.
  if (file.state !== "ok" && file.state !== "missing") return base;
  return { ...base, summary: summaryFromIndex(file, target) };
}

export const subidCollector: Collector<SubidFacts> = {
  name: "subid",
  description: "/etc/subuid and /etc/subgid ranges of the user, overlaps and malformed lines",
  scope: "user",
  defaultEnabled: true,
  defaultIntervalSeconds: 15,
  async collect({ roots, target, cycle, host, note }) {
    const index = await subidIndex(cycle, roots, host);
    for (const message of index.notes) note(message);
    return { uid: factsOf(index.uid, target), gid: factsOf(index.gid, target) };
  },
};
