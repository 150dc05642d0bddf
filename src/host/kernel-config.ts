import { readFileSync, statSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import type { HostRoots } from "./paths.js";
import { procPath, rootPath } from "./paths.js";

/** The running kernel's build configuration and where it was read. */
export interface KernelConfig {
  readonly source: string;
  /** CONFIG_X -> "y" or "m"; a symbol that is not set is not in the map. */
  readonly values: ReadonlyMap<string, "y" | "m">;
}

/** "CONFIG_X=y" and "CONFIG_X=m" lines; strings and numbers are not tristates and are skipped. */
export function parseKernelConfig(text: string): Map<string, "y" | "m"> {
  const values = new Map<string, "y" | "m">();
  for (const match of text.matchAll(/^(CONFIG_\w+)=([ym])$/gm)) {
    if (match[1] && (match[2] === "y" || match[2] === "m")) values.set(match[1], match[2]);
  }
  return values;
}

/** A kernel config is a few hundred KiB; anything far larger is not one. */
const maxConfigBytes = 4 * 1024 * 1024;

/*
 * The config of a running kernel never changes, and /proc/config.gz costs a gunzip: one slot,
 * keyed by the roots, the release and the file's identity, owned by whoever reads (the kernel
 * collector keeps one for the exporter's life).
 */
export class KernelConfigSlot {
  last: { readonly key: string; readonly config: KernelConfig | undefined } | undefined;
}

function identity(path: string): string | undefined {
  const stats = statSync(path, { throwIfNoEntry: false });
  if (!stats?.isFile() || stats.size > maxConfigBytes) return undefined;
  return `${path}:${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}`;
}

function read(path: string, gzipped: boolean): string | undefined {
  try {
    const bytes = readFileSync(path);
    const text = (
      gzipped ? gunzipSync(bytes, { maxOutputLength: maxConfigBytes }) : bytes
    ).toString("utf8");
    return /^CONFIG_\w+=/m.test(text) || /^# CONFIG_\w+ is not set/m.test(text) ? text : undefined;
  } catch {
    return undefined;
  }
}

/**
 * /proc/config.gz (CONFIG_IKCONFIG_PROC), else /boot/config-RELEASE as Debian, Ubuntu, RHEL and
 * SUSE install it; undefined when neither exists or is readable.
 */
export function readKernelConfig(
  roots: HostRoots,
  release: string | undefined,
  slot: KernelConfigSlot = new KernelConfigSlot(),
): KernelConfig | undefined {
  const candidates: { path: string; shown: string; gzipped: boolean }[] = [
    { path: procPath(roots, "config.gz"), shown: "/proc/config.gz", gzipped: true },
  ];
  if (release && /^[\w.+-]+$/.test(release)) {
    const shown = `/boot/config-${release}`;
    candidates.push({ path: rootPath(roots, shown), shown, gzipped: false });
  }
  for (const { path, shown, gzipped } of candidates) {
    const id = identity(path);
    if (id === undefined) continue;
    const key = `${id}\0${release ?? ""}`;
    const last = slot.last;
    if (last?.key === key) {
      if (last.config) return last.config;
      continue;
    }
    const text = read(path, gzipped);
    const config =
      text === undefined ? undefined : { source: shown, values: parseKernelConfig(text) };
    slot.last = { key, config };
    if (config) return config;
  }
  return undefined;
}
