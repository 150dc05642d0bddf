import type { HostRoots } from "../../host/paths.js";
import { rootPath } from "../../host/paths.js";
import type { Target } from "../../host/target.js";
import { parseDuration } from "../../units.js";
import type { Collector, UserContext } from "../collector.js";
import type { Cycle } from "../state.js";
import type { LibsubidAnswer } from "./libsubid.js";
import { askLibsubid } from "./libsubid.js";
import { readSubidSource } from "./nsswitch.js";
import type { ParentMap } from "./parent-map.js";
import { describeRanges, idsOutside, readParentMap } from "./parent-map.js";
import type { IdRange, SubidFileFacts, SubidFileIndex } from "./subid-index.js";
import { lastIndex, ownRanges, subidIndex, summaryFromIndex, unionSize } from "./subid-index.js";

export type { SubidParseError, SubidRange } from "./subid-file.js";
export { parseSubidFile, scanSubidFile } from "./subid-file.js";
export type { IdRange, SubidFileFacts, SubidIndex, SubidSummary } from "./subid-index.js";
export { indexRanges, lastIndex, subidIndex, summaryFromIndex } from "./subid-index.js";

/** The user's subordinate IDs of one kind, as libsubid (newuidmap, rootlesskit) gets them. */
export interface SubidAnswer {
  /** "files" (/etc/subuid, /etc/subgid) or the libsubid module; absent when unknown. */
  readonly source?: string;
  /** The module nsswitch.conf names, when libsubid could not use it and read the files. */
  readonly fallbackFrom?: string;
  /** What libsubid said when it gave up on the module, or why the answer is unknown. */
  readonly detail?: string;
  /** IDs allotted (the union of the ranges) and how many ranges; absent when unknown. */
  readonly size?: number;
  readonly ranges?: number;
  /** IDs of those ranges that the exporter's own user namespace does not map; absent if unknown. */
  readonly outsideParent?: number;
  /** The IDs that namespace maps (e.g. "0-65535"), when some of the user's are outside. */
  readonly parentMap?: string;
}

export interface SubidFacts {
  readonly uid: SubidFileFacts;
  readonly gid: SubidFileFacts;
  /** What libsubid gives the user: the files above, or the answer of nsswitch.conf's module. */
  readonly answer: { readonly uid: SubidAnswer; readonly gid: SubidAnswer };
}

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

/** Size, count and the parent-map verdict of the ranges libsubid gives. */
function rangesAnswer(source: string, ranges: readonly IdRange[], map: ParentMap): SubidAnswer {
  const answer = { source, size: unionSize(ranges), ranges: ranges.length };
  if (!map.ok) return answer;
  const outsideParent = idsOutside(ranges, map.ranges);
  return {
    ...answer,
    outsideParent,
    ...(outsideParent > 0 && { parentMap: describeRanges(map.ranges) }),
  };
}

function filesAnswer(file: SubidFileIndex, target: Target, map: ParentMap): SubidAnswer {
  if (file.state !== "ok" && file.state !== "missing") {
    return { detail: `${file.path} cannot be read` };
  }
  return rangesAnswer("files", ownRanges(file, target), map);
}

function moduleAnswer(
  module: string,
  answer: LibsubidAnswer,
  file: SubidFileIndex,
  target: Target,
  map: ParentMap,
): SubidAnswer {
  if (answer.state === "ranges") return rangesAnswer(module, answer.ranges, map);
  if (answer.state === "unknown") return { detail: answer.detail };
  return { ...filesAnswer(file, target, map), fallbackFrom: module, detail: answer.detail };
}

/** --collector.subid.libsubid-max-age: a duration, or 0s to ask getsubids on every run. */
const maxAgeMs = (text: string): number | undefined =>
  /^0+(s|ms)?$/.test(text) ? 0 : parseDuration(text);

/** The exporter's own uid_map and gid_map, the same for every user of a cycle. */
const parentMaps = (cycle: Cycle, roots: HostRoots) =>
  cycle.once("subid-parent-maps", async () => {
    const [uid, gid] = await Promise.all([
      readParentMap(roots, "uid"),
      readParentMap(roots, "gid"),
    ]);
    return { uid, gid };
  });

/** nsswitch.conf's subid source, read once a cycle for every user. */
const subidSource = (ctx: UserContext) =>
  ctx.cycle.once("subid-source", () => readSubidSource(ctx.roots, ctx.host.mounts));

/**
 * What decides a user's facts when libsubid reads the files (issue 19: they were made anew from
 * the index every cycle, for every user): the identities of /etc/passwd, /etc/subuid and
 * /etc/subgid under which the kept index was parsed (the index is parsed again when one
 * changes), nsswitch.conf's answer and the exporter's own id maps, read this cycle, and the
 * user's uid and name. None when the index is not kept (a file missing or not stat'ed) or a
 * module answers (getsubids: its answers).
 */
async function subidInputs(ctx: UserContext): Promise<string | undefined> {
  const { roots, target, cycle, host } = ctx;
  // The host's part, once a cycle for every user.
  const hostPart = await cycle.once("subid-inputs", async () => {
    const index = await subidIndex(cycle, roots, host);
    const kept = host.own(lastIndex).last;
    if (kept?.index !== index) return undefined;
    const [source, maps] = await Promise.all([subidSource(ctx), parentMaps(cycle, roots)]);
    if (!source.ok || source.module !== undefined) return undefined;
    // As a JSON string already: the user's key below is JSON.stringify([hostPart, uid, name]),
    // made without escaping the host's part again for every user.
    return JSON.stringify(JSON.stringify(["subid", kept.key, source, maps]));
  });
  return hostPart === undefined
    ? undefined
    : `[${hostPart},${JSON.stringify(target.uid)},${JSON.stringify(target.name)}]`;
}

export const subidCollector: Collector<SubidFacts> = {
  name: "subid",
  description:
    "subordinate IDs from libsubid's source (files or nsswitch module), overlaps, nesting",
  scope: "user",
  defaultEnabled: true,
  defaultIntervalSeconds: 15,
  options: [
    {
      name: "libsubid-max-age",
      help: "how long a user's getsubids answers are kept when nsswitch.conf names a subid module (0s: not kept)",
      defaultValue: "60s",
      validate: (v) =>
        maxAgeMs(v) === undefined ? "expected a duration such as 60s, or 0s" : undefined,
    },
  ],
  inputs: subidInputs,
  async collect(ctx) {
    const { roots, target, cycle, host, state, self, note, option } = ctx;
    const index = await subidIndex(cycle, roots, host);
    for (const message of index.notes) note(message);
    const [source, maps] = await Promise.all([subidSource(ctx), parentMaps(cycle, roots)]);
    for (const map of [maps.uid, maps.gid]) if (!map.ok) note(map.detail);
    const files = { uid: factsOf(index.uid, target), gid: factsOf(index.gid, target) };
    if (!source.ok) {
      note(source.detail);
      return {
        ...files,
        answer: { uid: { detail: source.detail }, gid: { detail: source.detail } },
      };
    }
    if (source.note) note(source.note);
    const module = source.module;
    if (module === undefined) {
      const answer = {
        uid: filesAnswer(index.uid, target, maps.uid),
        gid: filesAnswer(index.gid, target, maps.gid),
      };
      return { ...files, answer };
    }
    if (rootPath(roots, "/") !== "/") {
      // getsubids loads the module of the root it runs in: the exporter's, not --path.rootfs's.
      const detail = `nsswitch.conf names the subid module ${module}, which getsubids can ask only on the exporter's own root, not under --path.rootfs`;
      note(detail);
      return { ...files, answer: { uid: { detail }, gid: { detail } } };
    }
    const asked = await askLibsubid({
      module,
      target,
      state,
      self,
      maxAgeMs: maxAgeMs(option("libsubid-max-age")) ?? 60_000,
      signal: ctx.signal,
    });
    for (const answer of [asked.uid, asked.gid]) if (answer.state !== "ranges") note(answer.detail);
    const answer = {
      uid: moduleAnswer(module, asked.uid, index.uid, target, maps.uid),
      gid: moduleAnswer(module, asked.gid, index.gid, target, maps.gid),
    };
    return { ...files, answer };
  },
};
