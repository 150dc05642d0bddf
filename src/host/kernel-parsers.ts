/** Parsers for the kernel collector, pure so they can be fed garbage in tests. */

export interface KernelVersion {
  readonly major: number;
  readonly minor: number;
}

/** "6.1.0-18-amd64" -> 6.1; undefined when the release does not start with two numbers. */
export function parseKernelRelease(release: string): KernelVersion | undefined {
  const match = /^(\d{1,4})\.(\d{1,4})/.exec(release.trim());
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]) };
}

export function atLeast(version: KernelVersion, major: number, minor: number): boolean {
  return version.major > major || (version.major === major && version.minor >= minor);
}

/** A sysctl holding one integer, as in /proc/sys/user/max_user_namespaces. */
export function parseSysctlInteger(text: string): number | undefined {
  const trimmed = text.trim();
  return /^-?\d{1,20}$/.test(trimmed) ? Number(trimmed) : undefined;
}

export interface GroupRange {
  readonly low: number;
  readonly high: number;
}

/** net.ipv4.ping_group_range: two gids separated by whitespace; "1 0" allows nobody. */
export function parsePingGroupRange(text: string): GroupRange | undefined {
  const match = /^\s*(\d{1,10})\s+(\d{1,10})\s*$/.exec(text);
  if (!match) return undefined;
  return { low: Number(match[1]), high: Number(match[2]) };
}

/** /proc/modules: "name size refcount deps state address" per line; returns the names. */
export function parseProcModules(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split("\n")) {
    const name = line.split(" ", 1)[0];
    if (name && /^[\w-]+$/.test(name)) names.add(normalizeModule(name));
  }
  return names;
}

/** modules.builtin: "kernel/fs/overlayfs/overlay.ko" per line; returns the module names. */
export function parseModulesBuiltin(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split("\n")) {
    const match = /([\w-]+)\.ko(?:\.\w+)?\s*$/.exec(line);
    if (match?.[1]) names.add(normalizeModule(match[1]));
  }
  return names;
}

/** The kernel treats - and _ in module names as the same character. */
export function normalizeModule(name: string): string {
  return name.replaceAll("-", "_");
}

/**
 * getcap(8) output for one file, old ("path = cap_setuid+ep") or new ("path cap_setuid=ep") form.
 * True when `capability` is in both the effective and permitted sets.
 */
export function hasFileCapability(output: string, capability: string): boolean {
  const clauses = output
    .trim()
    .split(/\s+/)
    .slice(1)
    .filter((token) => token !== "=");
  for (const clause of clauses) {
    const match = /^([\w,]+)([=+])([eip]+)$/.exec(clause);
    if (!match) continue;
    const [, names = "", , flags = ""] = match;
    const listed = names === "all" || names.split(",").includes(capability);
    if (listed && flags.includes("e") && flags.includes("p")) return true;
  }
  return false;
}

export type SelinuxMode = "enforcing" | "permissive" | "disabled";
export const selinuxModes: readonly SelinuxMode[] = ["enforcing", "permissive", "disabled"];

/** selinuxfs `enforce`: "1" enforcing, "0" permissive (a missing file means SELinux is disabled). */
export function parseSelinuxEnforce(text: string): SelinuxMode | undefined {
  const value = text.trim();
  return value === "1" ? "enforcing" : value === "0" ? "permissive" : undefined;
}

/** One line of a PSI file: the share of time stalled over 10, 60 and 300 s, and the total. */
export interface PressureLine {
  readonly avg10: number;
  readonly avg60: number;
  readonly avg300: number;
  /** Microseconds stalled since the cgroup was made. */
  readonly totalMicroseconds: number;
}

export interface Pressure {
  readonly some?: PressureLine;
  /** Absent from cpu.pressure before kernel 5.13. */
  readonly full?: PressureLine;
}

/** Documentation/accounting/psi.rst: "some avg10=0.22 avg60=0.17 avg300=1.11 total=58761459". */
export function parsePressure(text: string): Pressure | undefined {
  const kinds: { some?: PressureLine; full?: PressureLine } = {};
  for (const line of text.split("\n")) {
    const match =
      /^(some|full) avg10=(\d{1,3}\.\d{2}) avg60=(\d{1,3}\.\d{2}) avg300=(\d{1,3}\.\d{2}) total=(\d{1,20})\s*$/.exec(
        line,
      );
    if (!match) {
      if (line.trim() !== "") return undefined;
      continue;
    }
    const [, kind, avg10, avg60, avg300, total] = match;
    const parsed = {
      avg10: Number(avg10),
      avg60: Number(avg60),
      avg300: Number(avg300),
      totalMicroseconds: Number(total),
    };
    if (kind === "some") kinds.some = parsed;
    else kinds.full = parsed;
  }
  return kinds.some || kinds.full ? kinds : undefined;
}
