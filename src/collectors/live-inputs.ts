import { rootPath } from "../host/paths.js";
import type { UserFileKind, UserStat } from "../host/user-walk.js";
import type { EntryStats } from "../host/user-files.js";
import { statUserNames, statUserPath } from "../host/user-files.js";
import type { UserContext } from "./collector.js";
import { keyPart, missingInHome } from "./inputs.js";
import {
  processes,
  runtimeDir,
  runtimeDirNames,
  runtimeNames,
  stateNames,
  tmpStateDirs,
  userMemo,
  usualStateDir,
  walkMemo,
} from "./scans.js";

/*
 * Key pieces for a user with something running (issue 19, docs/architecture.md "Reuse"): what a
 * collector reads that stays the same while the same processes run and the same files are there.
 * A file that exists is keyed by its identity, under git's "racy" guard (racyMs); a process by pid
 * and start time. Each piece is undefined when it cannot say, and undefined means a full run.
 */

/**
 * How much older than the moment a key is taken a file's mtime and ctime must be for the file to
 * be keyed. The kernel stamps a write with its coarse clock (a jiffy, 1-10 ms; FAT keeps mtime to
 * 2 s): a rewrite in the same tick as the last read could keep every timestamp, as git's index
 * knows ("racy git"). A file changed within 2 s of the key gets no key: its next write, after the
 * read that follows the key, moves ctime by more than any granularity, and ctime cannot be set by
 * the user (utimensat sets it to now), so a forged mtime does not hide a change either.
 */
export const racyMs = 2000;

/**
 * The identity of a file as a key, or undefined when it is racy. `contents`: what the collection
 * reads is the content (a file, a listed directory), so size and times are part of the key and
 * the guard applies; otherwise (a directory looked at for its owner and mode) its identity, owner
 * and mode are what decides, whatever is added in it.
 */
export function fileIdentity(
  stats: Pick<EntryStats, "dev" | "ino" | "mode" | "uid" | "size" | "mtimeMs" | "ctimeMs">,
  takenAt: number,
  contents: boolean,
): string | undefined {
  const base = [stats.dev, stats.ino, stats.mode, stats.uid];
  if (!contents) return JSON.stringify(base);
  const settled = takenAt - racyMs;
  if (!(stats.mtimeMs <= settled && stats.ctimeMs <= settled)) return undefined;
  return JSON.stringify([...base, stats.size, stats.mtimeMs, stats.ctimeMs]);
}

/** A user path's stat by the collections' walk, and the wall-clock moment it was taken. */
async function statAt(
  ctx: UserContext,
  path: string,
  kind: UserFileKind,
): Promise<{ readonly at: number; readonly stat: UserStat }> {
  const at = Date.now();
  const stat = await statUserPath(
    rootPath(ctx.roots, path),
    ctx.target.uid,
    kind,
    walkMemo(ctx.cycle),
  );
  return { at, stat };
}

/**
 * A user path as a key piece: `missing`, or its identity (fileIdentity) when it is a `kind` of the
 * user's own found by the same safe walk a collection makes (no symlink followed, nothing opened
 * but O_PATH); undefined for a refusal or a racy file. Taken once a cycle for every collector
 * (the cycle's memo); `again` (after a full run) looks afresh.
 */
export async function pathKey(
  ctx: UserContext,
  path: string,
  kind: UserFileKind,
  again: boolean,
  contents = kind !== "directory",
): Promise<string | undefined> {
  if (!again && (await missingInHome(ctx, path))) return `missing ${path}`;
  const { cycle, target } = ctx;
  const taken = again
    ? await statAt(ctx, path, kind)
    : await cycle.once(`path-key\0${target.uid}\0${kind}\0${path}`, () => statAt(ctx, path, kind));
  const { stat, at } = taken;
  if (!stat.ok) return stat.state === "missing" ? `missing ${path}` : undefined;
  const identity = fileIdentity(stat.stats, at, contents);
  return identity === undefined ? undefined : `${kind} ${path} ${identity}`;
}

/**
 * The user's processes in the cycle's /proc scan: pid, start time, comm and whether a zombie,
 * with the user's ids and paths and their newest /tmp/rootlesskitNNN. Any process started,
 * ended, restarted under the same pid or renamed (an exec that changes comm) changes it; the
 * next cycle's scan sees what happened during a run, so `again` needs no scan of its own.
 * Undefined for the exporter's own user (its environment decides too) and when a start time is
 * unknown.
 */
export function processKey(ctx: UserContext): Promise<string | undefined> {
  const { cycle, roots, target } = ctx;
  if (ctx.self) return Promise.resolve(undefined);
  const memo = userMemo(cycle, target);
  return (memo.processKey ??= (async () => {
    const entries = (await processes(cycle, roots)).of(target.uid);
    if (entries.some((p) => p.startTicks === undefined)) return undefined;
    const tmp = (await tmpStateDirs(cycle, roots)).get(target.uid) ?? null;
    const { uid, gid, groups, home, runtimeDir } = target;
    const running = entries.map((p) => [p.pid, p.startTicks, p.comm, p.zombie === true]);
    return JSON.stringify(["live", uid, gid, groups, home, runtimeDir, tmp, running]);
  })());
}

/**
 * The key of a user's processes (processKey) and of every further piece, or undefined when one
 * is: the pieces are asked for only when the processes gave one.
 */
export async function liveWith(
  ctx: UserContext,
  ...pieces: readonly (() => Promise<string | undefined>)[]
): Promise<string | undefined> {
  const running = await processKey(ctx);
  if (running === undefined) return undefined;
  const keys = await Promise.all(pieces.map((piece) => piece()));
  // Each part preceded by its length (inputs.ts's keyPart): no JSON of JSON.
  let key = keyPart(running);
  for (const part of keys) {
    if (part === undefined) return undefined;
    key += keyPart(part);
  }
  return key;
}

/**
 * The user's runtime dir as a key piece: its identity, owner and mode (what collections read of
 * it; its files are pieces of their own). Before a run from the cycle's check of it, which every
 * collection uses; after one, looked at afresh.
 */
export async function runtimeDirKey(ctx: UserContext, again: boolean): Promise<string | undefined> {
  const { cycle, roots, target } = ctx;
  if (again) return pathKey(ctx, target.runtimeDir, "directory", true);
  const dir = await runtimeDir(cycle, roots, target);
  if (dir.ok) return `directory ${target.runtimeDir} ${fileIdentity(dir.stats, 0, false)}`;
  return dir.state === "missing" ? `missing ${target.runtimeDir}` : undefined;
}

/**
 * What a collection keeps of its last full run for the refreshes that follow: its static part,
 * in the user's TargetState under the collector's own `kept` slot (one per collector), replaced
 * by every full run. A key built from it names the paths that run found (a state dir), so the
 * key of a later cycle looks at the same files; the first full run after a change gives a key
 * that differs from the one taken before it, and reuse starts at the next full run.
 */
export interface StaticPart<S> {
  part: S | undefined;
}

/** The names looked at in a state dir (and in a runtime dir): one walk, then one lstat each. */
export { runtimeNames, stateNames } from "./scans.js";

interface Snapshot {
  readonly at: number;
  readonly found: Awaited<ReturnType<typeof statUserNames>>;
}

/** `names` in the user's directory `dir`, once a cycle (statUserNames); `again` afresh. */
function snapshot(
  ctx: UserContext,
  dir: string,
  names: readonly string[],
  again = false,
): Promise<Snapshot> {
  const { cycle, roots, target } = ctx;
  // The runtime dir's look is the cycle's check of it (scans.ts), which every collection uses.
  if (!again && dir === target.runtimeDir && names === runtimeNames)
    return runtimeDirNames(cycle, roots, target);
  const take = async (): Promise<Snapshot> => {
    const at = Date.now();
    const found = await statUserNames(rootPath(roots, dir), target.uid, names, walkMemo(cycle));
    return { at, found };
  };
  if (again) return take();
  // The usual state dir was looked at in the same walk as the runtime dir, when it is a
  // directory of the user's (scans.ts); else it is walked to.
  const usual = names === stateNames && dir === `${target.runtimeDir}/${usualStateDir.name}`;
  return cycle.once(`dir-names\0${target.uid}\0${dir}\0${names.join("/")}`, async () => {
    if (!usual) return take();
    const { at, found } = await runtimeDirNames(cycle, roots, target);
    return found.ok && found.nested ? { at, found: found.nested } : take();
  });
}

const isKind = (stats: EntryStats, kind: UserFileKind): boolean =>
  kind === "file" ? stats.isFile() : kind === "directory" ? stats.isDirectory() : stats.isSocket();

/**
 * A name in a directory of the user's as a key piece, from the directory's snapshot: `missing`,
 * or its identity when it is a `kind` of the user's own (fileIdentity, the racy guard for
 * content); undefined otherwise (a symlink, someone else's, a racy file).
 */
export async function entryKey(
  ctx: UserContext,
  dir: string,
  names: readonly string[],
  name: string,
  kind: UserFileKind,
  again: boolean,
  contents = kind === "file",
): Promise<string | undefined> {
  const { found, at } = await snapshot(ctx, dir, names, again);
  const path = `${dir}/${name}`;
  if (!found.ok) return found.state === "missing" ? `missing ${path}` : undefined;
  const entry = found.entries.get(name);
  if (!entry?.ok) return entry?.state === "missing" ? `missing ${path}` : undefined;
  if (!isKind(entry.stats, kind) || entry.stats.uid !== ctx.target.uid) return undefined;
  const identity = fileIdentity(entry.stats, at, contents);
  return identity === undefined ? undefined : `${kind} ${path} ${identity}`;
}

/** A directory of the user's as a key piece: its identity, owner and mode (from its snapshot). */
export async function dirKey(
  ctx: UserContext,
  dir: string,
  names: readonly string[],
  again: boolean,
): Promise<string | undefined> {
  const { found } = await snapshot(ctx, dir, names, again);
  if (found.ok) return `directory ${dir} ${fileIdentity(found.dir, 0, false)}`;
  return found.state === "missing" ? `missing ${dir}` : undefined;
}

/**
 * `name` in the user's `dir` as this cycle's snapshot found it: its lstat when it is a `kind` of
 * the user's own, "missing", or undefined (anything else: the caller walks to it as before).
 */
export async function entryNow(
  ctx: UserContext,
  dir: string,
  names: readonly string[],
  name: string,
  kind: UserFileKind,
): Promise<EntryStats | "missing" | undefined> {
  const { found } = await snapshot(ctx, dir, names);
  if (!found.ok) return undefined;
  const entry = found.entries.get(name);
  if (!entry?.ok) return entry?.state === "missing" ? "missing" : undefined;
  return isKind(entry.stats, kind) && entry.stats.uid === ctx.target.uid ? entry.stats : undefined;
}
