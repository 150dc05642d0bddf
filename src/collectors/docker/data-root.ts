import { readKernelText } from "../../host/files.js";
import type { HostRoots } from "../../host/paths.js";
import { rootPath, sysPath } from "../../host/paths.js";
import type { Target } from "../../host/target.js";
import { userFilesystem } from "../../host/user-statfs.js";
import type { WalkMemo } from "../../host/walk-memo.js";
import type { CollectorOption } from "../collector.js";

/** Free fractions (of bytes or of inodes) under which the data root checks fail; 0 turns one off. */
export interface SpaceThresholds {
  readonly warningRatio: number;
  readonly criticalRatio: number;
}

/** The space under dockerd's data root, measured as the user's directory (host/user-statfs.ts). */
export type DataRootUsage =
  | {
      readonly path: string;
      readonly thresholds: SpaceThresholds;
      /** The filesystem's name from statfs's f_type ("extfs", "xfs", "tmpfs", ... "unknown"). */
      readonly fsName: string;
      readonly sizeBytes: number;
      readonly freeBytes: number;
      readonly inodes?: number;
      readonly freeInodes?: number;
      /** Whether getdents gives entry types (overlay needs it); absent when not told. */
      readonly dtype?: boolean;
      /** /sys/module/zfs/version on a ZFS data root (overlay works on OpenZFS 2.2 and later). */
      readonly zfsVersion?: string;
    }
  | {
      readonly path: string;
      readonly thresholds: SpaceThresholds;
      /** Why it was not measured (a symlink, not the user's directory, ...); never its content. */
      readonly unverified: string;
    };

const ratio = (value: string): string | undefined => {
  const n = Number(value);
  return value.trim() !== "" && Number.isFinite(n) && n >= 0 && n < 1
    ? undefined
    : "expected a fraction from 0 to below 1, such as 0.1";
};

/** The docker collector's flags for the thresholds (named for the checks they tune). */
export const spaceOptions: readonly CollectorOption[] = [
  {
    name: "data-root-free-warning-ratio",
    flag: "check.data-root-free-warning-ratio",
    help: "data_root_space fails when less than this fraction of the data root's bytes or inodes is free (0: never)",
    defaultValue: "0.1",
    validate: ratio,
  },
  {
    name: "data-root-free-critical-ratio",
    flag: "check.data-root-free-critical-ratio",
    help: "data_root_full fails when less than this fraction of the data root's bytes or inodes is free (0: never)",
    defaultValue: "0.05",
    validate: ratio,
  },
];

export function spaceThresholds(option: (name: string) => string): SpaceThresholds {
  const value = (name: string, fallback: number) => {
    const n = Number(option(name));
    return ratio(option(name)) === undefined ? n : fallback;
  };
  return {
    warningRatio: value("data-root-free-warning-ratio", 0.1),
    criticalRatio: value("data-root-free-critical-ratio", 0.05),
  };
}

/** statfs and d_type of `DockerRootDir`, read as the user's own path, never followed through a symlink. */
export async function readDataRootUsage(
  roots: HostRoots,
  target: Target,
  path: string,
  thresholds: SpaceThresholds,
  memo?: WalkMemo,
): Promise<DataRootUsage> {
  const fs = await userFilesystem(rootPath(roots, path), target.uid, memo);
  if (!fs.ok) return { path, thresholds, unverified: fs.detail };
  const zfs =
    fs.fsName === "zfs"
      ? await readKernelText(sysPath(roots, "module/zfs/version"), 256)
      : undefined;
  const zfsVersion = zfs?.ok ? /^\d+\.\d+\.\d+/.exec(zfs.text.trim())?.[0] : undefined;
  const { fsName, sizeBytes, freeBytes, inodes, freeInodes, dtype } = fs;
  return {
    path,
    thresholds,
    fsName,
    sizeBytes,
    freeBytes,
    ...(inodes !== undefined && { inodes }),
    ...(freeInodes !== undefined && { freeInodes }),
    ...(dtype !== undefined && { dtype }),
    ...(zfsVersion && { zfsVersion }),
  };
}
