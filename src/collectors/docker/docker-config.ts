import { parseBoundedJson } from "../../host/bounded-json.js";
import { readOwnedFile } from "../../host/owned-file.js";
import type { HostRoots } from "../../host/paths.js";
import { rootPath } from "../../host/paths.js";
import type { MountEntry } from "../../host/proc-files.js";
import { mountOf } from "../../host/proc-files.js";
import { readHostMounts } from "../scans.js";
import type { Target } from "../../host/target.js";
import { statUserPath } from "../../host/user-files.js";
import type { WalkMemo } from "../../host/walk-memo.js";

/**
 * What a rootless dockerd that is not running would use: its data root and storage driver from
 * ~/.config/docker/daemon.json, else the defaults ($XDG_DATA_HOME/docker, and the driver whose
 * directory the data root already holds). dockerd reads the same places when it starts.
 */
export interface ConfiguredDaemon {
  readonly configFile: string;
  /** ok, missing (defaults apply), or why it was not used (never echoed: the user wrote it). */
  readonly configState: "ok" | "missing" | "malformed" | "unsafe" | "too_large" | "unreadable";
  readonly dataRoot?: string;
  readonly dataRootSource?: "daemon.json" | "default";
  /** As in /proc/1/mountinfo: the host's mount table, where the user's home is mounted. */
  readonly dataRootFs?: string;
  readonly storageDriver?: string;
  readonly storageDriverSource?: "daemon.json" | "data root";
}

/** dockerd's graph drivers, whose directory under the data root marks a prior driver. */
const graphDrivers = ["btrfs", "fuse-overlayfs", "overlay2", "vfs", "zfs", "aufs", "devicemapper"];

const absolutePath = (value: unknown): string | undefined =>
  typeof value === "string" && value.startsWith("/") && !value.includes("\0") ? value : undefined;
const driverName = (value: unknown): string | undefined =>
  typeof value === "string" && /^[\w.-]{1,64}$/.test(value) ? value : undefined;

export async function readConfiguredDaemon(
  roots: HostRoots,
  target: Target,
  memo?: WalkMemo,
  mountTable: () => Promise<readonly MountEntry[] | string> = () => readHostMounts(roots),
): Promise<ConfiguredDaemon> {
  const configFile = `${target.home}/.config/docker/daemon.json`;
  const read = await readOwnedFile(rootPath(roots, configFile), target.uid, 256 * 1024, memo);
  let config: Record<string, unknown> = {};
  let configState: ConfiguredDaemon["configState"] = read.ok ? "ok" : read.reason;
  if (read.ok) {
    // The user's file: nested 256 KiB is 20-40 ms of JSON.parse, refused by the depth bound.
    const json = parseBoundedJson(read.text, { maxChars: 256 * 1024 });
    const parsed = json.ok ? json.value : undefined;
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed))
      config = parsed as Record<string, unknown>;
    else configState = "malformed";
  }
  if (configState !== "ok" && configState !== "missing") return { configFile, configState };
  const configured = absolutePath(config["data-root"]);
  const dataRoot = configured ?? `${target.home}/.local/share/docker`;
  const mounts = await mountTable();
  const mount = typeof mounts === "string" ? undefined : mountOf(mounts, dataRoot);
  let storageDriver = driverName(config["storage-driver"]);
  let storageDriverSource: ConfiguredDaemon["storageDriverSource"] = storageDriver
    ? "daemon.json"
    : undefined;
  if (!storageDriver) {
    // The user names the data root: only a directory of theirs is looked into, and only for the
    // few names that matter (a listing of a user's directory may be 300,000 names long). No
    // data root at all (most users of a host): none of them can be there, one walk says so.
    const at = (path: string) => statUserPath(rootPath(roots, path), target.uid, "directory", memo);
    const root = await at(dataRoot);
    const absent = !root.ok && (root.state === "missing" || root.state === "not_directory");
    const found = absent
      ? graphDrivers.map(() => false)
      : await Promise.all(graphDrivers.map(async (d) => (await at(`${dataRoot}/${d}`)).ok));
    const prior = graphDrivers.filter((_, i) => found[i]);
    // dockerd reuses the one driver it finds; with several it refuses to choose.
    if (prior.length === 1) [storageDriver, storageDriverSource] = [prior[0], "data root"];
  }
  return {
    configFile,
    configState,
    dataRoot,
    dataRootSource: configured ? "daemon.json" : "default",
    ...(mount && { dataRootFs: mount.fsType }),
    ...(storageDriver && { storageDriver, storageDriverSource }),
  };
}
