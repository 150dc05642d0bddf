import { readOwnedFile } from "../host/owned-file.js";
import type { HostRoots } from "../host/paths.js";
import { rootPath } from "../host/paths.js";
import type { Target } from "../host/target.js";
import { listUserDir } from "../host/user-files.js";
import { walkMemo } from "./scans.js";
import type { Cycle } from "./state.js";
import type { WalkMemo } from "../host/walk-memo.js";

/**
 * The user's ~/.config/systemd/user/docker.service and its drop-ins, as systemd merges their
 * `Environment=` lines: read once (the network collector's configured network and the client
 * collector's DOCKER_HOST both come from here), each file the user's own, bounded, no symlink.
 */
export interface DockerUnitEnvironment {
  readonly unitFile: string;
  /** Each variable's last assignment and the file it came from (drop-ins after the unit). */
  readonly env: ReadonlyMap<string, { readonly value: string; readonly file: string }>;
  /**
   * Drop-ins (or their directory) that are there but were not read (a symlink, not a regular
   * file of the user's, too large, past the 64 read): what they set is unknown, not unset.
   */
  readonly refused: readonly string[];
}

/** The user's docker.service is there but was not read (a symlink, a FIFO, too large...). */
export interface DockerUnitRefused {
  readonly unitFile: string;
  readonly refusedUnit: true;
}

/**
 * Each `Environment=` line in order: its assignments ("A=1" "B=two words" C=3), or "reset" for an
 * empty one, which systemd.exec(5) makes drop every assignment before it (a drop-in's way to undo
 * the unit's).
 */
function environmentLines(unit: string): ("reset" | [string, string][])[] {
  const lines: ("reset" | [string, string][])[] = [];
  // A line ending in a backslash goes on on the next, the backslash a space (systemd.syntax(7)).
  for (const line of unit.replace(/\\\r?\n/g, " ").split("\n")) {
    const match = /^\s*Environment\s*=\s*(.*)$/.exec(line);
    if (!match) continue;
    if (!match[1]?.trim()) {
      lines.push("reset");
      continue;
    }
    const pairs: [string, string][] = [];
    for (const token of match[1].match(/"[^"]*"|'[^']*'|\S+/g) ?? []) {
      const word = /^(["']).*\1$/.test(token) ? token.slice(1, -1) : token;
      const eq = word.indexOf("=");
      if (eq > 0) pairs.push([word.slice(0, eq), word.slice(eq + 1)]);
    }
    lines.push(pairs);
  }
  return lines;
}

/** The assignments of systemd `Environment=` lines, in order ("A=1" "B=two words" C=3). */
export function parseEnvironmentLines(unit: string): [string, string][] {
  return environmentLines(unit).flatMap((line) => (line === "reset" ? [] : line));
}

/** Most drop-ins read from a user's docker.service.d (systemd reads them all; a user has a few). */
const maxDropIns = 64;
const maxUnitBytes = 64 * 1024;

/** Undefined when the user has no docker.service of their own. */
export async function readDockerUnit(
  roots: HostRoots,
  target: Target,
  memo?: WalkMemo,
): Promise<DockerUnitEnvironment | DockerUnitRefused | undefined> {
  const unitFile = `${target.home}/.config/systemd/user/docker.service`;
  const unit = await readOwnedFile(rootPath(roots, unitFile), target.uid, maxUnitBytes, memo);
  if (!unit.ok) return unit.reason === "missing" ? undefined : { unitFile, refusedUnit: true };
  const files: [string, string][] = [[unitFile, unit.text]];
  const refused: string[] = [];
  const dropInDir = `${unitFile}.d`;
  const dropIns = await listUserDir(rootPath(roots, dropInDir), target.uid, 4096, memo);
  if (!dropIns.ok && dropIns.state !== "missing" && dropIns.state !== "not_directory")
    refused.push(dropInDir);
  const confs = dropIns.ok ? dropIns.names.filter((n) => n.endsWith(".conf")).sort() : [];
  // Drop-ins past the bounds are not read, and a later one overrides: what they set is unknown.
  if (dropIns.ok && (!dropIns.complete || confs.length > maxDropIns)) refused.push(dropInDir);
  for (const name of confs.slice(0, maxDropIns)) {
    const path = `${dropInDir}/${name}`;
    const text = await readOwnedFile(rootPath(roots, path), target.uid, maxUnitBytes, memo);
    if (text.ok) files.push([path, text.text]);
    else if (text.reason !== "missing") refused.push(path);
  }
  const env = new Map<string, { value: string; file: string }>();
  for (const [file, text] of files) {
    for (const line of environmentLines(text)) {
      if (line === "reset") env.clear();
      else for (const [name, value] of line) env.set(name, { value, file });
    }
  }
  return { unitFile, env, refused };
}

/**
 * readDockerUnit once a cycle for every collector that asks, per uid and home: two accounts that
 * share a uid (`--target.user` naming both) each have the unit of their own home.
 */
export const dockerUnit = (
  cycle: Cycle,
  roots: HostRoots,
  target: Target,
): Promise<DockerUnitEnvironment | DockerUnitRefused | undefined> =>
  cycle.once(`docker-unit\0${roots.rootfs}\0${target.uid}\0${target.home}`, () =>
    readDockerUnit(roots, target, walkMemo(cycle)),
  );
