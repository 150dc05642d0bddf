import type { ExecResult } from "./exec.js";
import { runFile } from "./exec.js";

/** shadow's getsubids(1) (Debian's uidmap, Fedora's shadow-utils-subid): libsubid's answer. */
export const getsubidsPath = "/usr/bin/getsubids";

/**
 * A login that may become getsubids' argument: the portable shape useradd accepts, never an
 * option (no leading '-'), at most 32 characters.
 */
export function isPlainLogin(name: string): boolean {
  return /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\$?$/.test(name) && name.length <= 32;
}

export interface GetsubidsOptions {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  /** The watched user's uid and gid when the exporter is not that user (then it runs as root). */
  readonly credentials?: { readonly uid: number; readonly gid: number };
}

/**
 * `getsubids LOGIN` or `getsubids -g LOGIN`: a fixed argv, no shell, a timeout and at most 64 KiB
 * of output. A login of another shape is refused before any process starts.
 */
export function runGetsubids(
  kind: "uid" | "gid",
  login: string,
  options: GetsubidsOptions,
): Promise<ExecResult> {
  if (!isPlainLogin(login)) {
    return Promise.resolve({
      ok: false,
      reason: "failed",
      detail: "the login is not a plain name; getsubids was not run",
    });
  }
  return runFile(getsubidsPath, kind === "gid" ? ["-g", login] : [login], {
    timeoutMs: options.timeoutMs,
    maxBytes: 64 * 1024,
    ...(options.signal && { signal: options.signal }),
    ...(options.credentials && { credentials: options.credentials }),
  });
}
