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
}

/** The assignments of systemd `Environment=` lines, in order ("A=1" "B=two words" C=3). */
export function parseEnvironmentLines(unit: string): [string, string][] {
  const pairs: [string, string][] = [];
  for (const line of unit.split("\n")) {
    const match = /^\s*Environment\s*=\s*(.*)$/.exec(line);
    if (!match?.[1]) continue;
    for (const token of match[1].match(/"[^"]*"|'[^']*'|\S+/g) ?? []) {
      const word = /^(["']).*\1$/.test(token) ? token.slice(1, -1) : token;
      const eq = word.indexOf("=");
      if (eq > 0) pairs.push([word.slice(0, eq), word.slice(eq + 1)]);
    }
  }
  return pairs;
}

/** Most drop-ins read from a user's docker.service.d (systemd reads them all; a user has a few). */
const maxDropIns = 64;
const maxUnitBytes = 64 * 1024;

/** Undefined when the user has no docker.service of their own (or it was refused). */
export async function readDockerUnit(
  roots: HostRoots,
  target: Target,
  memo?: WalkMemo,
): Promise<DockerUnitEnvironment | undefined> {
  const unitFile = `${target.home}/.config/systemd/user/docker.service`;
  const unit = await readOwnedFile(rootPath(roots, unitFile), target.uid, maxUnitBytes, memo);
  if (!unit.ok) return undefined;
  const files: [string, string][] = [[unitFile, unit.text]];
  const dropIns = await listUserDir(rootPath(roots, `${unitFile}.d`), target.uid, 4096, memo);
  const confs = dropIns.ok ? dropIns.names.filter((n) => n.endsWith(".conf")).sort() : [];
  for (const name of confs.slice(0, maxDropIns)) {
    const path = `${unitFile}.d/${name}`;
    const text = await readOwnedFile(rootPath(roots, path), target.uid, maxUnitBytes, memo);
    if (text.ok) files.push([path, text.text]);
  }
  const env = new Map<string, { value: string; file: string }>();
  for (const [file, text] of files) {
    for (const [name, value] of parseEnvironmentLines(text)) env.set(name, { value, file });
  }
  return { unitFile, env };
}

/** readDockerUnit once a cycle for every collector that asks. */
export const dockerUnit = (
  cycle: Cycle,
  roots: HostRoots,
  target: Target,
): Promise<DockerUnitEnvironment | undefined> =>
  cycle.once(`docker-unit\0${roots.rootfs}\0${target.uid}`, () =>
    readDockerUnit(roots, target, walkMemo(cycle)),
  );
