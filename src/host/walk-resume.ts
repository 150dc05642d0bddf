import { constants } from "node:fs";
import type { Stats } from "node:fs";
import { open } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import type { Claim, VerifiedDir, WalkMemo } from "./walk-memo.js";
import { pathFlags, statHandle } from "./walk-memo.js";

/* Where a walk of user-walk.ts starts: the deepest prefix walk-memo.ts verified this cycle. */

/** Still the directory that was verified: the same inode, owned by root, with the same mode. */
export const sameDir = (stats: Stats, dir: VerifiedDir): boolean =>
  stats.isDirectory() &&
  stats.uid === 0 &&
  stats.dev === dir.dev &&
  stats.ino === dir.ino &&
  stats.mode === dir.mode;

/** Where a walk may start instead of `/`: the deepest prefix verified this cycle, reopened. */
export type Resumed =
  | {
      readonly kind: "dir";
      readonly dir: FileHandle;
      readonly depth: number;
      readonly walked: string;
      readonly entry: VerifiedDir;
    }
  | { readonly kind: "missing"; readonly path: string; readonly last: boolean };

/**
 * The deepest prefix of `parts` (the directories before `name`) verified this cycle and open to
 * `uid` (searchable by others at every step, or `uid` is the exporter's own), reopened by path
 * and checked to be the same directory; or a component (or `name` itself) found missing in such a
 * prefix. Undefined when nothing is known: the walk starts at `/` and meets every refusal itself.
 *
 * A component of `parts` that another walk of the cycle is verifying now (WalkMemo.claim) is
 * waited for, then looked up again. Such a wait ends when that walk's look at that directory
 * ends (verified, refused, or the walk stopped before it), not when that walk ends: it never
 * waits on what the other walk does after it (a user's own directory, which may be a hung FUSE
 * mount), only on a directory of this walk's own way, which it would otherwise open and fstat
 * itself. The components left to walk that nobody verified or claimed are claimed in `claimed`'s
 * name (the caller settles them as it walks).
 */
export async function resume(
  memo: WalkMemo,
  parts: readonly string[],
  name: string,
  uid: number,
  own: () => number,
  claimed?: (claim: Claim) => void,
): Promise<Resumed | undefined> {
  let key = "";
  let depth = 0;
  let entry: VerifiedDir | undefined;
  let unknown = false;
  for (const part of parts) {
    const here = `${key}/${part}`;
    let next = memo.dir(here);
    if (!next && !memo.isMissing(here)) {
      const look = memo.pendingLook(here);
      if (look) {
        await look;
        next = memo.dir(here);
      }
    }
    if (memo.isMissing(here)) return { kind: "missing", path: here, last: false };
    unknown = next === undefined;
    if (!next || !(next.openToOthers || uid === own())) break;
    key = here;
    entry = next;
    depth += 1;
  }
  if (depth === parts.length && memo.isMissing(`${key}/${name}`))
    return { kind: "missing", path: `${key}/${name}`, last: true };
  // The rest of the way is this walk's to verify: later walks wait for it.
  if (claimed && unknown) {
    const rest: string[] = [];
    let path = key;
    for (const part of parts.slice(depth)) rest.push((path = `${path}/${part}`));
    claimed(memo.claim(rest));
  }
  if (!entry) return undefined;
  // A closed directory listed this cycle: a name not in it is missing without an open (most
  // users of a host have no /run/user/UID, and each failed open was a thrown error).
  const next = parts[depth] ?? name;
  const listed = entry.closed ? await memo.listed(key) : undefined;
  if (listed && !listed.has(next)) {
    memo.markMissing(`${key}/${next}`);
    return { kind: "missing", path: `${key}/${next}`, last: depth === parts.length };
  }
  let dir: FileHandle | undefined;
  try {
    dir = await open(key, pathFlags | constants.O_DIRECTORY);
    if (sameDir(await statHandle(dir), entry)) {
      // Listed through the handle just checked, before the walk goes on with it.
      if (entry.closed) await memo.list(key, dir);
      return { kind: "dir", dir, depth, walked: key, entry };
    }
  } catch {
    // Gone or changed since (root's doing): the walk from `/` says what it is now.
  }
  if (dir) dir.close().catch(() => undefined);
  return undefined;
}
