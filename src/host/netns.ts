import { spawn } from "node:child_process";
import type { ChildProcess, SpawnOptions } from "node:child_process";

const nsenterCandidates = ["/usr/bin/nsenter", "/bin/nsenter"];

/** A program running in another process's user and network namespaces. */
export interface NamespacedProcess {
  readonly pid: number | undefined;
  /** The next line the program prints on stdout (JSON), or a rejection on exit or timeout. */
  readonly nextLine: (timeoutMs: number) => Promise<string>;
  /** Resolves when the program has exited. */
  readonly exited: Promise<void>;
  readonly kill: () => void;
}

/** Whose credentials the program runs with: the owner of the namespaces, never root. */
export interface NamespaceOwner {
  readonly uid: number;
  readonly gid: number;
}

/**
 * Whose namespaces: the user namespace of `pid` (rootlesskit's child) and, unless `netns` names
 * the detached network namespace (`detachedNetnsPath`), its network namespace too.
 */
export interface NamespaceTarget {
  readonly pid: number;
  readonly netns?: string;
}

/** A state dir as discovery found it: absolute and normalised (it names one place), no controls. */
function plainAbsolute(path: string): boolean {
  if (!path.startsWith("/") || path.length > 1024) return false;
  if ([...path].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) return false;
  return path
    .slice(1)
    .split("/")
    .every((part) => part !== "" && part !== "." && part !== "..");
}

/**
 * RootlessKit 2's `--detach-netns` bind-mounts the namespace at `$STATE_DIR/netns` in the child's
 * mount namespace only; its parent enters it as `/proc/CHILD/root/$STATE_DIR/netns`
 * (pkg/parent/parent.go, v2.0.2), and so does this. Undefined for a state dir that is not a plain
 * absolute path of at most 1024 characters.
 */
export function detachedNetnsPath(
  procfs: string,
  childPid: number,
  stateDir: string,
): string | undefined {
  if (!Number.isInteger(childPid) || childPid <= 0) return undefined;
  if (!plainAbsolute(stateDir)) return undefined;
  return `${procfs}/${childPid}/root${stateDir}/netns`;
}

/**
 * How `runInNamespaces` starts nsenter: a fixed argument vector, no shell, a clean environment,
 * and the namespace owner's uid and gid (set by the spawn, before nsenter runs, so nothing of
 * root's reaches the user's namespaces; libuv drops the supplementary groups with them). nsenter
 * without --preserve-credentials then becomes uid 0 of the user's namespace, which is the user's
 * own uid outside it.
 */
export function nsenterSpawn(
  target: number | NamespaceTarget,
  program: string,
  args: readonly string[],
  owner: NamespaceOwner,
  nsenter = nsenterCandidates[0] ?? "nsenter",
): { file: string; args: string[]; options: SpawnOptions } {
  if (
    !Number.isInteger(owner.uid) ||
    owner.uid <= 0 ||
    !Number.isInteger(owner.gid) ||
    owner.gid <= 0
  )
    throw new Error(`refusing to enter namespaces as uid ${owner.uid} gid ${owner.gid}`);
  const { pid, netns } = typeof target === "number" ? { pid: target, netns: undefined } : target;
  if (!Number.isInteger(pid) || pid <= 0)
    throw new Error(`refusing to enter the namespaces of ${pid}`);
  // nsenter opens the path as the user (the spawn's uid), before it enters any namespace.
  const net = netns === undefined ? "-n" : `--net=${netns}`;
  const self = process.geteuid?.() === owner.uid;
  return {
    file: nsenter,
    args: ["-U", net, "-t", String(pid), program, ...args],
    options: {
      stdio: ["ignore", "pipe", "pipe"],
      shell: false,
      cwd: "/",
      env: { PATH: "/usr/bin:/bin" },
      // Already the user (user mode): no change of credentials, which would need privilege.
      ...(!self && { uid: owner.uid, gid: owner.gid }),
    },
  };
}

/**
 * What the program may print: the agent prints a few short JSON lines. The namespaces are the
 * user's, so the user can take the agent's stdout (pidfd_getfd) and write anything into it.
 */
export const outputBounds = {
  lineBytes: 4096,
  lines: 16,
  stdoutBytes: 64 * 1024,
  stderrBytes: 4096,
};

/** The last line of stderr, printable ASCII only and short: the user may write there too. */
function stderrExcerpt(text: string): string {
  const last = text.trim().split("\n").at(-1) ?? "";
  return last.replace(/[^\x20-\x7e]/g, "?").slice(0, 200);
}

/**
 * Runs `program args...` in the user and network namespaces of `targetPid` (rootlesskit's child),
 * as the user who owns them, killed on timeout. Entering the user's own namespaces needs no
 * privilege: the user owns the user namespace. Its output is bounded (`outputBounds`): past a
 * bound the program is killed and both pipes closed, as they are when it exits or is killed, so
 * nothing more is read whoever holds the other end.
 */
export function runInNamespaces(
  target: number | NamespaceTarget,
  program: string,
  args: readonly string[],
  owner: NamespaceOwner,
  nsenter?: string,
  bounds: typeof outputBounds = outputBounds,
): NamespacedProcess {
  const how = nsenterSpawn(target, program, args, owner, nsenter);
  const targetPid = typeof target === "number" ? target : target.pid;
  const child: ChildProcess = spawn(how.file, how.args, how.options);
  const lines: string[] = [];
  const waiters: ((line: string | Error) => void)[] = [];
  let buffer = "";
  let stdoutBytes = 0;
  let stderr = "";
  let ended: Error | undefined;
  let overflow: string | undefined;
  const deliver = (item: string | Error) => {
    const waiter = waiters.shift();
    if (waiter) waiter(item);
    else if (typeof item === "string") lines.push(item);
  };
  const closePipes = () => {
    child.stdout?.destroy();
    child.stderr?.destroy();
  };
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    closePipes();
  };
  const tooMuch = (what: string) => {
    overflow ??= what;
    kill();
  };
  child.stdout?.on("data", (chunk: Buffer) => {
    if (overflow) return;
    stdoutBytes += chunk.length;
    if (stdoutBytes > bounds.stdoutBytes) return tooMuch(`more than ${bounds.stdoutBytes} bytes`);
    buffer += chunk.toString();
    let newline = buffer.indexOf("\n");
    while (newline !== -1) {
      if (lines.length >= bounds.lines) return tooMuch(`more than ${bounds.lines} unread lines`);
      deliver(buffer.slice(0, newline));
      buffer = buffer.slice(newline + 1);
      newline = buffer.indexOf("\n");
    }
    if (buffer.length > bounds.lineBytes) tooMuch(`a line longer than ${bounds.lineBytes} bytes`);
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("latin1");
    if (stderr.length > bounds.stderrBytes) {
      stderr = stderr.slice(-bounds.stderrBytes);
      tooMuch(`more than ${bounds.stderrBytes} bytes on stderr`);
    }
  });
  // A pipe whose other end the user holds on to must not keep the streams (or us) waiting.
  child.stdout?.on("error", () => undefined);
  child.stderr?.on("error", () => undefined);
  const exited = new Promise<void>((resolve) => {
    let finished = false;
    const finish = (why: string) => {
      if (finished) return;
      finished = true;
      closePipes();
      const excerpt = stderrExcerpt(stderr);
      ended = new Error(
        `${program} in the namespaces of ${targetPid} ${overflow ? `printed ${overflow}, killed` : why}${excerpt ? `: ${excerpt}` : ""}`,
      );
      while (waiters.length > 0) deliver(ended);
      resolve();
    };
    // 'close' comes once both pipes are drained, so the last line the program printed is read;
    // a writer that took its stdout keeps 'close' away, so 200 ms after 'exit' is the end too.
    child.once("close", (code, signal) => finish(`exited (${signal ?? code})`));
    child.once("exit", (code, signal) => {
      setTimeout(() => finish(`exited (${signal ?? code})`), 200).unref();
    });
    child.once("error", (err) => finish(`could not start (${err.message})`));
  });
  return {
    pid: child.pid,
    exited,
    kill,
    nextLine: (timeoutMs) => {
      const ready = lines.shift();
      if (ready !== undefined) return Promise.resolve(ready);
      if (ended) return Promise.reject(ended);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${program} printed nothing within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.push((item) => {
          clearTimeout(timer);
          if (typeof item === "string") resolve(item);
          else reject(item);
        });
      });
    },
  };
}
