import type { ExecResult } from "../../host/exec.js";
import { getsubidsPath, isPlainLogin, runGetsubids } from "../../host/getsubids.js";
import type { Target } from "../../host/target.js";
import type { TargetState } from "../state.js";
import { kept } from "../state.js";
import { decimalAt } from "./subid-file.js";
import type { IdRange } from "./subid-index.js";

/** 2^32 - 1: (uid_t)-1 is no ID, and no range reaches past it. */
const idLimit = 0xffffffff;

export type GetsubidsOutput =
  | { readonly ok: true; readonly ranges: readonly IdRange[] }
  | { readonly ok: false; readonly detail: string };

/**
 * getsubids' stdout (shadow src/getsubids.c): one `N: OWNER START COUNT` per range, N counting
 * from 0 and OWNER the login it was asked about. Anything else is an error, never a guess.
 */
export function parseGetsubids(stdout: string, owner: string): GetsubidsOutput {
  const ranges: IdRange[] = [];
  const lines = stdout.split("\n");
  if (lines.at(-1) === "") lines.pop();
  for (const [i, line] of lines.entries()) {
    const prefix = `${i}: ${owner} `;
    const rest = line.startsWith(prefix) ? line.slice(prefix.length) : undefined;
    const space = rest?.indexOf(" ") ?? -1;
    const start = rest && space > 0 ? decimalAt(rest, 0, space) : -1;
    const count = rest && space > 0 ? decimalAt(rest, space + 1, rest.length) : -1;
    if (start < 0 || count < 0) {
      return { ok: false, detail: `getsubids printed an unexpected line ${i + 1}` };
    }
    if (start + count > idLimit) {
      return { ok: false, detail: `getsubids line ${i + 1}: the range goes past ${idLimit}` };
    }
    ranges.push({ start, count });
  }
  return { ok: true, ranges };
}

/** What libsubid answered for one kind, through getsubids. */
export type LibsubidAnswer =
  /** The module's ranges; none when getsubids says "Error fetching ranges". */
  | { readonly state: "ranges"; readonly ranges: readonly IdRange[] }
  /** libsubid could not use the module and read the files instead (its stderr says so). */
  | { readonly state: "fallback"; readonly detail: string }
  | { readonly state: "unknown"; readonly detail: string };

/** libsubid's own words when it gives up on the module (shadow lib/nss.c, 4.13 to 4.17). */
const fallbackWords = /using files|did not provide @/i;

/** Printable ASCII of the first line that says something, for notes and the check report. */
function firstLine(text: string): string {
  const line = text.split("\n").find((l) => l.trim() !== "") ?? "";
  return line.replace(/[^\x20-\x7e]/g, "?").slice(0, 200);
}

/** The answer a finished getsubids gives, with the module nsswitch.conf names. */
export function libsubidAnswer(result: ExecResult, owner: string): LibsubidAnswer {
  const stderr = result.ok ? result.stderr : (result.stderr ?? "");
  if (fallbackWords.test(stderr)) return { state: "fallback", detail: firstLine(stderr) };
  if (result.ok) {
    const parsed = parseGetsubids(result.stdout, owner);
    return parsed.ok
      ? { state: "ranges", ranges: parsed.ranges }
      : { state: "unknown", detail: parsed.detail };
  }
  if (result.reason === "missing") {
    return {
      state: "unknown",
      detail: `${getsubidsPath} is not installed (Debian: uidmap, Fedora: shadow-utils-subid)`,
    };
  }
  // getsubids exits 1 with "Error fetching ranges" when libsubid lists no range for the login.
  if (result.code === 1 && /Error fetching ranges/.test(stderr)) {
    return { state: "ranges", ranges: [] };
  }
  const detail = result.reason === "timeout" ? result.detail : firstLine(stderr || result.detail);
  return { state: "unknown", detail: `getsubids failed: ${detail}` };
}

/** The last answers for one user, kept while watched: getsubids costs two processes. */
const lastAnswers = kept(
  "subid.libsubid",
  (): {
    last?: {
      readonly key: string;
      readonly at: number;
      readonly uid: LibsubidAnswer;
      readonly gid: LibsubidAnswer;
    };
  } => ({}),
);

export interface AskOptions {
  readonly module: string;
  readonly target: Target;
  readonly state: TargetState;
  /** Whether the exporter runs as the user; otherwise getsubids runs with the user's uid and gid. */
  readonly self: boolean;
  readonly maxAgeMs: number;
  readonly signal: AbortSignal;
}

/**
 * libsubid's uid and gid answers for the user, asked as the user (newuidmap's real uid is the
 * user's too, and the module's code then runs with no more than the user's rights), by login name
 * as newuidmap asks; kept for maxAgeMs.
 */
export async function askLibsubid(
  options: AskOptions,
): Promise<{ readonly uid: LibsubidAnswer; readonly gid: LibsubidAnswer }> {
  const { module, target, state, self, maxAgeMs, signal } = options;
  if (!isPlainLogin(target.name)) {
    const detail = "the login name is not a plain name, so getsubids is not asked about it";
    return { uid: { state: "unknown", detail }, gid: { state: "unknown", detail } };
  }
  const kept = state.own(lastAnswers);
  const key = JSON.stringify([module, target.name, target.uid, target.gid, self]);
  const now = Date.now();
  if (kept.last?.key === key && now - kept.last.at < maxAgeMs) return kept.last;
  const run = (kind: "uid" | "gid") =>
    runGetsubids(kind, target.name, {
      timeoutMs: 2000,
      signal,
      ...(!self && { credentials: { uid: target.uid, gid: target.gid } }),
    }).then((result) => libsubidAnswer(result, target.name));
  const [uid, gid] = await Promise.all([run("uid"), run("gid")]);
  const answers = { uid, gid };
  kept.last =
    uid.state === "unknown" || gid.state === "unknown" ? undefined : { key, at: now, ...answers };
  return answers;
}
