import type { HostRoots } from "../host/paths.js";
import { rootPath } from "../host/paths.js";
import { mountOf } from "../host/proc-files.js";
import type { UserFileKind } from "../host/user-walk.js";
import { missingNames, statUserPath } from "../host/user-files.js";
import type { UserContext } from "./collector.js";
import { hostMounts, processes, runtimeDir, tmpStateDirs, userMemo, walkMemo } from "./scans.js";
import type { Cycle } from "./state.js";

/*
 * The pieces of a user collector's `inputs` key (collector.ts; the scheduler's reuse.ts): only
 * answers that are cheap, safe and complete for what they cover. A key is given only for a user
 * with nothing running and only from answers "missing": a file that exists is read in full every
 * run (no identity of its content is trusted), a process or a runtime dir means live answers. Each
 * piece is undefined when it cannot say, and undefined means a full run.
 */

/**
 * A user with nothing running, once a cycle for every collector: no process of theirs in the
 * cycle's /proc scan, no runtime dir (missing, as the walk says: a name root alone may add under
 * /run/user), no /tmp/rootlesskitNNN of theirs. Undefined otherwise, and for the exporter's own
 * user (its environment: DOCKER_HOST, the bus address). The key names the user's ids and paths, so
 * a change of groups, home or runtime dir is a change.
 */
export function idleKey(ctx: UserContext): Promise<string | undefined> {
  const { cycle, roots, target } = ctx;
  if (ctx.self) return Promise.resolve(undefined);
  const memo = userMemo(cycle, target);
  return (memo.idleKey ??= (async () => {
    if ((await processes(cycle, roots)).count(target.uid) > 0) return undefined;
    const dir = await runtimeDir(cycle, roots, target);
    if (dir.ok || dir.state !== "missing") return undefined;
    if ((await tmpStateDirs(cycle, roots)).has(target.uid)) return undefined;
    const { uid, gid, groups, home, runtimeDir: run } = target;
    // Numbers joined by "," and " ", then the paths each with its length: no two users alike.
    const ids = `idle ${uid} ${gid} ${groups.join(",")} `;
    return ids + keyPart(home) + keyPart(run) + keyPart(dir.detail);
  })());
}

/** The names in a home that the keyed paths start with (docker, network, client). */
const homeNames = [".config", ".local", ".docker"];

type HomeNames = "missing" | ReadonlySet<string> | undefined;

/**
 * The user's home looked at once a cycle for every collector's key: missing, or which of
 * `homeNames` are missing in it (one walk and three opens, instead of a walk per path).
 * Undefined when the home is there but not the user's own directory: each path is walked then.
 */
function home(ctx: UserContext): Promise<HomeNames> | HomeNames {
  const { cycle, roots, target } = ctx;
  const memo = userMemo(cycle, target);
  // Answered without a promise once the look is in (asked ~5 times a user, ~15 at 1,000 users).
  if (memo.homeLooked) return memo.homeNamesFound;
  return (memo.homeNames ??= (async () => {
    const found = await missingNames(
      rootPath(roots, target.home),
      target.uid,
      homeNames,
      walkMemo(cycle),
    );
    const names = found.ok ? found.missing : found.state === "missing" ? "missing" : undefined;
    memo.homeNamesFound = names;
    memo.homeLooked = true;
    return names;
  })());
}

/**
 * `path` of the user's (under the rootfs) found missing by the same walk a collection makes
 * (user-walk.ts: no symlink followed, nothing behind a directory closed to the user looked at);
 * undefined for anything else: a file there, a symlink, a refusal. A path under the home whose
 * first name the cycle's look at the home found missing (or the home itself) is missing without
 * a walk of its own: the walk would end there. `again` (the key after a full run): walked.
 */
export async function missingKey(
  ctx: UserContext,
  path: string,
  kind: UserFileKind,
  again: boolean,
): Promise<string | undefined> {
  // Mostly answered at once (the home's look is in): no await then.
  const inHome = !again && missingInHome(ctx, path);
  if (inHome === true || (inHome !== false && (await inHome))) return `missing ${path}`;
  const found = await statUserPath(
    rootPath(ctx.roots, path),
    ctx.target.uid,
    kind,
    walkMemo(ctx.cycle),
  );
  return !found.ok && found.state === "missing" ? `missing ${path}` : undefined;
}

/**
 * Whether the cycle's look at the home (one walk and three opens for every collector's key)
 * found `path` missing: the home is missing, or the first name under it is. False when it cannot
 * say (a path elsewhere, a name that is there): the path is walked then.
 */
export function missingInHome(ctx: UserContext, path: string): Promise<boolean> | boolean {
  const { home: dir } = ctx.target;
  const start = dir.length + 1;
  // Under the home (`${home}/...`), compared in place: no string built (asked ~5 times a user).
  if (!dir.startsWith("/") || path.charCodeAt(dir.length) !== slash || !path.startsWith(dir))
    return false;
  const names = home(ctx);
  return names instanceof Promise
    ? names.then((n) => firstMissing(n, path, start))
    : firstMissing(names, path, start);
}

const slash = 0x2f;

/** The home missing, or `path`'s first name under it (from `start`) one the look found missing. */
function firstMissing(names: HomeNames, path: string, start: number): boolean {
  if (names === "missing") return true;
  if (names === undefined) return false;
  for (const name of homeNames) {
    const end = start + name.length;
    if (
      names.has(name) &&
      path.startsWith(name, start) &&
      (path.length === end || path.charCodeAt(end) === slash)
    )
      return true;
  }
  return false;
}

/**
 * The key of an idle user (idleKey) and of every further piece, or undefined when one is: the
 * pieces are asked for only when the user is idle, all at once (a slow home costs the slowest
 * piece's time, not their sum: most answer from the cycle's memos at once).
 */
export async function idleWith(
  ctx: UserContext,
  ...pieces: readonly (() => Promise<string | undefined>)[]
): Promise<string | undefined> {
  const idle = await idleKey(ctx);
  if (idle === undefined) return undefined;
  let key = keyPart(idle);
  if (pieces.length === 1) {
    const part = await (pieces[0] as () => Promise<string | undefined>)();
    return part === undefined ? undefined : key + keyPart(part);
  }
  const parts = await Promise.all(pieces.map((piece) => piece()));
  for (const part of parts) {
    if (part === undefined) return undefined;
    key += keyPart(part);
  }
  return key;
}

/**
 * A key's part preceded by its length: the parts of two keys differ exactly when their joined
 * strings do, whatever characters a part holds (no escaping: a fifth of JSON's cost). Parts are
 * decoded text (file names, file text, passwd fields), which never hold a lone surrogate: the
 * digest hashes one as U+FFFD, so two parts differing only there would share a key.
 */
export const keyPart = (part: string): string => `${part.length}:${part}`;

/**
 * The mount of the host's /proc/1/mountinfo that holds `path` (where a data root that is not there
 * yet would be), as the docker collector finds it: the table is read and parsed once a cycle
 * through the same cycle memo, so another user's mount elsewhere changes no one else's key.
 */
export async function mountKey(
  cycle: Cycle,
  roots: HostRoots,
  path: string,
): Promise<string | undefined> {
  const mounts = await hostMounts(cycle, roots);
  if (typeof mounts === "string") return `mountinfo ${mounts}`;
  return JSON.stringify(["mount", mountOf(mounts, path) ?? null]);
}
