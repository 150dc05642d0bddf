import type { UserFileRefusal } from "./user-walk.js";
import { readUserFile } from "./user-files.js";
import type { WalkMemo } from "./walk-memo.js";

/** A file of a watched user, read as ARCHITECTURE.md says: the user controls it, so distrust it. */
export type OwnedFileResult =
  | { readonly ok: true; readonly text: string }
  | {
      readonly ok: false;
      readonly reason: "missing" | "unsafe" | "too_large" | "unreadable";
      readonly detail: string;
    };

const reasons: Record<UserFileRefusal, Exclude<OwnedFileResult, { ok: true }>["reason"]> = {
  missing: "missing",
  symlink: "unsafe",
  not_regular: "unsafe",
  // A component that is a file, not a directory: the file is not there (as ENOTDIR was before).
  not_directory: "missing",
  not_socket: "unsafe",
  foreign_owner: "unsafe",
  too_large: "too_large",
  permission_denied: "unreadable",
  io_error: "unreadable",
};

/**
 * A regular file owned by `uid`, at most `limit` bytes, reached through directories of the
 * user's (or root's that the user may pass) without a symlink: host/user-files. A user's
 * `~/.config` symlinked into /root reads nothing.
 */
export async function readOwnedFile(
  path: string,
  uid: number,
  limit: number,
  memo?: WalkMemo,
): Promise<OwnedFileResult> {
  const read = await readUserFile(path, uid, limit, memo);
  if (read.ok) return { ok: true, text: read.text };
  return { ok: false, reason: reasons[read.state], detail: read.detail };
}
