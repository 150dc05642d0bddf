import type { PasswdEntry } from "../host/accounts.js";
import { readPasswd } from "../host/accounts.js";
import type { ReadFailure } from "../host/files.js";
import { readText } from "../host/files.js";
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
const decimal = /^\d{1,10}$/;

/**
 * subuid(5)/subgid(5): one `owner:start:count` per line, owner a login name or a numeric uid.
 * Blank lines and `#` comments are skipped; every other line that does not fit is an error and the
 * good lines still count.
 */
export function parseSubidFile(text: string): ParsedSubidFile {
  const ranges: SubidRange[] = [];
  const errors: SubidParseError[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? "").trim();
    if (line === "" || line.startsWith("#")) continue;
    const reason = parseLine(line, ranges);
    if (reason !== undefined) errors.push({ line: i + 1, reason });
  }
  return { ranges, errors };
}

function parseLine(line: string, into: SubidRange[]): string | undefined {
  const fields = line.split(":");
  if (fields.length !== 3) return `expected owner:start:count, found ${fields.length} fields`;
  const [owner = "", startField = "", countField = ""] = fields;
  if (owner === "" || /\s/.test(owner)) return "owner is empty or contains whitespace";
  if (!decimal.test(startField)) return `start "${startField}" is not a decimal number`;
  if (!decimal.test(countField)) return `count "${countField}" is not a decimal number`;
  const start = Number(startField);
  const count = Number(countField);
  if (count === 0) return "count is 0";
  if (start + count > idLimit) return `range ${start}+${count} goes past ${idLimit}`;
  into.push({ owner, start, count });
  return undefined;
}

/** Who a range belongs to: a name and its numeric uid are the same owner. */
function ownerKey(owner: string, uidByName: ReadonlyMap<string, number>): string {
  if (decimal.test(owner)) return `uid:${Number(owner)}`;
  const uid = uidByName.get(owner);
  return uid === undefined ? `name:${owner}` : `uid:${uid}`;
}

export interface SubidSummary {
  /** IDs allotted to the user: the size of the union of its ranges. */
  readonly size: number;
  readonly ranges: number;
  /** The user's ranges that overlap a range of another owner. */
  readonly overlaps: number;
}

export function summarizeFor(
  target: Pick<Target, "name" | "uid">,
  ranges: readonly SubidRange[],
  passwd: readonly PasswdEntry[],
): SubidSummary {
  const uidByName = new Map(passwd.map((entry) => [entry.name, entry.uid] as const));
  const targetKey = `uid:${target.uid}`;
  const keys = ranges.map((range) => ownerKey(range.owner, uidByName));
  const own = ranges.filter((range, i) => keys[i] === targetKey || range.owner === target.name);
  let overlaps = 0;
  for (const mine of own) {
    const end = mine.start + mine.count;
    const clash = ranges.some(
      (other, i) =>
        keys[i] !== targetKey &&
        other.owner !== target.name &&
        other.start < end &&
        mine.start < other.start + other.count,
    );
    if (clash) overlaps++;
  }
  return { size: unionSize(own), ranges: own.length, overlaps };
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

export const subidCollector: Collector<SubidFacts> = {
  name: "subid",
  description: "/etc/subuid and /etc/subgid ranges of the user, overlaps and malformed lines",
  defaultEnabled: true,
  defaultIntervalSeconds: 15,
  async collect({ roots, target, note }) {
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
      const parsed = parseSubidFile(result.text);
      const firstParseErrors = parsed.errors.slice(0, 5);
      for (const error of firstParseErrors) {
        note(`${path} line ${error.line}: ${error.reason}`);
      }
      return {
        path,
        state: "ok",
        parseErrors: parsed.errors.length,
        firstParseErrors,
        summary: summarizeFor(target, parsed.ranges, passwd),
      };
    };
    const [uid, gid] = await Promise.all([readKind("/etc/subuid"), readKind("/etc/subgid")]);
    return { uid, gid };
  },
};
