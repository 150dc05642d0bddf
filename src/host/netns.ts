import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";

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

/**
 * `nsenter -U --preserve-credentials -n -t PID program args...`: a fixed argument vector, no
 * shell, a minimal environment, killed on timeout. Entering the user's own rootlesskit namespaces
 * needs no privilege (the user owns the user namespace).
 */
export function runInNamespaces(
  targetPid: number,
  program: string,
  args: readonly string[],
  nsenter = nsenterCandidates[0] ?? "nsenter",
): NamespacedProcess {
  const child: ChildProcess = spawn(
    nsenter,
    ["-U", "--preserve-credentials", "-n", "-t", String(targetPid), program, ...args],
    { stdio: ["ignore", "pipe", "pipe"], shell: false, env: { PATH: "/usr/bin:/bin" } },
  );
  const lines: string[] = [];
  const waiters: ((line: string | Error) => void)[] = [];
  let buffer = "";
  let stderr = "";
  let ended: Error | undefined;
  const deliver = (item: string | Error) => {
    const waiter = waiters.shift();
    if (waiter) waiter(item);
    else if (typeof item === "string") lines.push(item);
  };
  child.stdout?.on("data", (chunk: Buffer) => {
    buffer += chunk.toString();
    let newline = buffer.indexOf("\n");
    while (newline !== -1) {
      deliver(buffer.slice(0, newline));
      buffer = buffer.slice(newline + 1);
      newline = buffer.indexOf("\n");
    }
  });
  child.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  const exited = new Promise<void>((resolve) => {
    const finish = (why: string) => {
      ended = new Error(
        `${program} in the namespaces of ${targetPid} ${why}${stderr ? `: ${stderr.trim()}` : ""}`,
      );
      while (waiters.length > 0) deliver(ended);
      resolve();
    };
    child.once("exit", (code, signal) => finish(`exited (${signal ?? code})`));
    child.once("error", (err) => finish(`could not start (${err.message})`));
  });
  return {
    pid: child.pid,
    exited,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
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
