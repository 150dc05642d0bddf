import type { PasswdEntry } from "../host/accounts.js";
import { readPasswd } from "../host/accounts.js";
import type { ReadFailure } from "../host/files.js";
import { fileIdentity, readText } from "../host/files.js";
import type { HostRoots } from "../host/paths.js";
import { rootPath } from "../host/paths.js";
import type { Target } from "../host/target.js";
import type { Collector } from "./collector.js";

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

/** Splits ranges into the target's own and everyone else's, the latter packed in typed arrays. */
class OwnerSplit {
  readonly own: SubidRange[] = [];
  private starts = new Uint32Array(1024);
  private ends = new Float64Array(1024);
  private others = 0;
  private readonly uidText: string;
  private readonly uidByName: ReadonlyMap<string, number>;

  constructor(
    private readonly target: Pick<Target, "name" | "uid">,
    passwd: readonly PasswdEntry[],
  ) {
    this.uidText = String(target.uid);
    this.uidByName = new Map(passwd.map((entry) => [entry.name, entry.uid] as const));
  }

  /** A name and its numeric uid are the same owner. */
  private isOwn(owner: string): boolean {
    if (owner === this.target.name || owner === this.uidText) return true;
    const numeric = decimalValue(owner);
    return numeric >= 0
      ? numeric === this.target.uid
      : this.uidByName.get(owner) === this.target.uid;
  }

  readonly add: RangeSink = (owner, start, count) => {
    if (this.isOwn(owner)) {
      this.own.push({ owner, start, count });
      return;
    }
    if (this.others === this.starts.length) {
      const starts = new Uint32Array(this.others * 2);
      const ends = new Float64Array(this.others * 2);
      starts.set(this.starts);
      ends.set(this.ends);
      this.starts = starts;
      this.ends = ends;
    }
    this.starts[this.others] = start;
    this.ends[this.others] = start + count;
    this.others++;
  };

  summary(): SubidSummary {
    let overlaps = 0;
    for (const mine of this.own) {
      const end = mine.start + mine.count;
      for (let i = 0; i < this.others; i++) {
        if ((this.starts[i] ?? 0) < end && mine.start < (this.ends[i] ?? 0)) {
          overlaps++;
          break;
        }
      }
    }
    return { size: unionSize(this.own), ranges: this.own.length, overlaps };
  }
}

export function summarizeFor(
  target: Pick<Target, "name" | "uid">,
  ranges: readonly SubidRange[],
  passwd: readonly PasswdEntry[],
): SubidSummary {
  const split = new OwnerSplit(target, passwd);
  for (const { owner, start, count } of ranges) split.add(owner, start, count);
  return split.summary();
}

/** Parses a file and summarizes it for the target in one pass. */
export function summarizeSubidFile(
  target: Pick<Target, "name" | "uid">,
  text: string,
  passwd: readonly PasswdEntry[],
): { summary: SubidSummary; errors: SubidParseError[] } {
  const split = new OwnerSplit(target, passwd);
  const errors = scanSubidFile(text, split.add);
  return { summary: split.summary(), errors };
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

/** The last answer, and what made it: the roots, the target and the three files' identities. */
let last: { key: string; facts: SubidFacts; notes: readonly string[] } | undefined;

async function summarize(
  roots: HostRoots,
  target: Target,
  note: (message: string) => void,
): Promise<SubidFacts> {
  const passwd = await readPasswd(roots);
  const readKind = async (path: string): Promise<SubidFileFacts> => {
    const result = await readText(rootPath(roots, path));
    if (!result.ok) {
      if (result.reason !== "missing") {
        note(`${path} cannot be read (${result.detail}); subordinate IDs are unknown`);
        return { path, state: result.reason, parseErrors: 0, firstParseErrors: [] };
      }
      note(`${path} does not exist: the user has no subordinate IDs`);
      const summary = summarizeFor(target, [], []);
      return { path, state: "missing", parseErrors: 0, firstParseErrors: [], summary };
    }
    const { summary, errors } = summarizeSubidFile(target, result.text, passwd);
    const firstParseErrors = errors.slice(0, 5);
    for (const error of firstParseErrors) {
      note(`${path} line ${error.line}: ${error.reason}`);
    }
    return {
      path,
      state: "ok",
      parseErrors: errors.length,
      firstParseErrors,
      summary,
    };
  };
  const [uid, gid] = await Promise.all([readKind("/etc/subuid"), readKind("/etc/subgid")]);
  return { uid, gid };
}

export const subidCollector: Collector<SubidFacts> = {
  name: "subid",
  description: "/etc/subuid and /etc/subgid ranges of the user, overlaps and malformed lines",
  defaultEnabled: true,
  defaultIntervalSeconds: 15,
  async collect({ roots, target, note }) {
    // The files change rarely and a big /etc/subuid costs tens of milliseconds to summarize:
    // the last answer stands while none of the three files has changed (one stat each).
    const identities = await Promise.all(
      ["/etc/passwd", "/etc/subuid", "/etc/subgid"].map((path) =>
        fileIdentity(rootPath(roots, path)),
      ),
    );
    const key = JSON.stringify([roots, target.name, target.uid, identities]);
    if (last?.key === key) {
      for (const message of last.notes) note(message);
      return last.facts;
    }
    const notes: string[] = [];
    const facts = await summarize(roots, target, (message) => {
      notes.push(message);
      note(message);
    });
    last = identities.every((identity) => identity !== undefined)
      ? { key, facts, notes }
      : undefined;
    return facts;
  },
};
