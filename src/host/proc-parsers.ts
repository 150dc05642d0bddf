/** Parsers of /proc/PID files: pure, so garbage can be thrown at them. */

/** USER_HZ: the unit of /proc/PID/stat times, 100 on every Linux architecture Docker runs on. */
export const clockTicksPerSecond = 100;

export interface ProcStat {
  readonly pid: number;
  readonly comm: string;
  readonly state: string;
  readonly ppid: number;
  /** utime + stime, in seconds. */
  readonly cpuSeconds: number;
  /** Start time in clock ticks after boot. */
  readonly startTicks: number;
}

/**
 * proc(5) /proc/PID/stat. The comm field is in parentheses and may itself hold spaces and
 * parentheses, so fields are counted from the last ")".
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open <= 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  const rest = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state); utime, stime, starttime are fields 14, 15, 22.
  const [state, ppid, utime, stime, start] = [rest[0], rest[1], rest[11], rest[12], rest[19]];
  const numbers = [ppid, utime, stime, start].map((f) =>
    f !== undefined && /^\d+$/.test(f) ? Number(f) : NaN,
  );
  if (!Number.isInteger(pid) || pid <= 0 || state === undefined || numbers.some(Number.isNaN))
    return undefined;
  const [ppidN = 0, utimeN = 0, stimeN = 0, startN = 0] = numbers;
  return {
    pid,
    comm: text.slice(open + 1, close),
    state,
    ppid: ppidN,
    cpuSeconds: (utimeN + stimeN) / clockTicksPerSecond,
    startTicks: startN,
  };
}

export interface ProcStatus {
  /** Real, effective, saved and filesystem uid. */
  readonly uids: readonly number[];
  readonly rssBytes?: number;
  /** The pid in each pid namespace, outermost first. */
  readonly nspids: readonly number[];
}

export function parseProcStatus(text: string): ProcStatus | undefined {
  // Three of its ~55 lines matter: look them up instead of splitting the whole file.
  const field = (key: string): string | undefined => {
    const prefix = `${key}:`;
    let at = text.indexOf(`\n${prefix}`) + 1; // 0: not on a line after the first
    if (text.startsWith(prefix)) at = 0;
    else if (at === 0) return undefined;
    const end = text.indexOf("\n", at);
    return text.slice(at + prefix.length, end === -1 ? undefined : end).trim();
  };
  const numbers = (key: string): number[] =>
    (field(key) ?? "")
      .split(/\s+/)
      .filter((f) => /^\d+$/.test(f))
      .map(Number);
  const uids = numbers("Uid");
  if (uids.length === 0) return undefined;
  const rss = /^(\d+) kB$/.exec(field("VmRSS") ?? "");
  return { uids, nspids: numbers("NSpid"), ...(rss && { rssBytes: Number(rss[1]) * 1024 }) };
}

/** NUL-separated argv of /proc/PID/cmdline. */
export function parseCmdline(text: string): string[] {
  const args = text.split("\0");
  if (args.at(-1) === "") args.pop();
  return args;
}

/** The value of a long flag in an argv: `--name=value` or `--name value` (also `-n value`). */
export function flagValue(argv: readonly string[], ...names: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    for (const name of names) {
      if (arg === name) return argv[i + 1];
      if (arg.startsWith(`${name}=`)) return arg.slice(name.length + 1);
    }
  }
  return undefined;
}

/** rootlesskit 2's boolean flags (cmd/rootlesskit/main.go, v2.0.2): they take no separate value. */
const rootlesskitBoolFlags: readonly string[] = [
  "debug",
  "disable-host-loopback",
  "ipv6",
  "pidns",
  "cgroupns",
  "utsns",
  "ipcns",
  "detach-netns",
  "help",
  "h",
  "version",
  "v",
];

/**
 * A boolean flag of rootlesskit's own, as urfave/cli reads its argv: `--name`, `-name`,
 * `--name=true|false`, the last one winning, and only among the flags before the child's command
 * (the first argument that is not a flag, or `--`), so a flag of dockerd's never counts.
 * Undefined when the flag is not given.
 */
export function rootlesskitBoolFlag(argv: readonly string[], name: string): boolean | undefined {
  let value: boolean | undefined;
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--" || !arg.startsWith("-") || arg === "-") break;
    const body = arg.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const flag = eq === -1 ? body : body.slice(0, eq);
    if (eq === -1 && !rootlesskitBoolFlags.includes(flag)) {
      i++; // `--net slirp4netns`: the next argument is this flag's value
      continue;
    }
    if (flag !== name) continue;
    const text = eq === -1 ? "true" : body.slice(eq + 1);
    // strconv.ParseBool's spellings.
    if (["1", "t", "T", "true", "TRUE", "True"].includes(text)) value = true;
    else if (["0", "f", "F", "false", "FALSE", "False"].includes(text)) value = false;
  }
  return value;
}
