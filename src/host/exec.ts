import { execFile } from "node:child_process";

export type ExecResult =
  | { readonly ok: true; readonly stdout: string; readonly stderr: string }
  | {
      readonly ok: false;
      readonly reason: "missing" | "timeout" | "failed";
      readonly detail: string;
      /** The exit status, when the program ran and exited non-zero. */
      readonly code?: number;
      readonly stderr?: string;
    };

export interface ExecOptions {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  readonly maxBytes?: number;
  /** Run with this uid and gid (libuv then drops the supplementary groups); needs root. */
  readonly credentials?: { readonly uid: number; readonly gid: number };
}

/**
 * Runs a program with a fixed argument vector: never a shell, always a timeout and a kill, output
 * bounded. Used only where no API exists (file capabilities have no Node API, nor has setns).
 */
export function runFile(
  file: string,
  args: readonly string[],
  options: ExecOptions,
): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      {
        shell: false,
        timeout: options.timeoutMs,
        killSignal: "SIGKILL",
        maxBuffer: options.maxBytes ?? 64 * 1024,
        signal: options.signal,
        env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" },
        windowsHide: true,
        cwd: "/",
        ...(options.credentials && {
          uid: options.credentials.uid,
          gid: options.credentials.gid,
        }),
      },
      (error, stdout, stderr) => {
        if (!error) return resolve({ ok: true, stdout, stderr });
        const err = error as NodeJS.ErrnoException & { killed?: boolean };
        if (err.code === "ENOENT")
          return resolve({ ok: false, reason: "missing", detail: err.message });
        if (err.killed || err.name === "AbortError") {
          return resolve({
            ok: false,
            reason: "timeout",
            detail: `${file} did not finish in time`,
          });
        }
        const code = typeof err.code === "number" ? err.code : undefined;
        resolve({
          ok: false,
          reason: "failed",
          detail: `${err.message.trim()} ${stderr}`.trim(),
          ...(code !== undefined && { code }),
          stderr,
        });
      },
    );
  });
}
