import { constants } from "node:fs";
import { open } from "node:fs/promises";

/** A file of a watched user, read as ARCHITECTURE.md says: the user controls it, so distrust it. */
export type OwnedFileResult =
  | { readonly ok: true; readonly text: string }
  | {
      readonly ok: false;
      readonly reason: "missing" | "unsafe" | "too_large" | "unreadable";
      readonly detail: string;
    };

/**
 * Opens `path` without following a final symlink and without blocking on a FIFO, then checks on
 * the descriptor itself that it is a regular file owned by `uid` and at most `limit` bytes.
 * Through the thread pool: a home directory may be on NFS.
 */
export async function readOwnedFile(
  path: string,
  uid: number,
  limit: number,
): Promise<OwnedFileResult> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR")
      return { ok: false, reason: "missing", detail: path };
    // ELOOP: the last component is a symlink.
    if (code === "ELOOP") return { ok: false, reason: "unsafe", detail: `${path} is a symlink` };
    return { ok: false, reason: "unreadable", detail: `${path}: ${code ?? "error"}` };
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile())
      return { ok: false, reason: "unsafe", detail: `${path} is not a regular file` };
    if (stats.uid !== uid)
      return {
        ok: false,
        reason: "unsafe",
        detail: `${path} belongs to uid ${stats.uid}, not ${uid}`,
      };
    if (stats.size > limit)
      return { ok: false, reason: "too_large", detail: `${path} is larger than ${limit} bytes` };
    const buffer = Buffer.alloc(limit + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    if (bytesRead > limit)
      return { ok: false, reason: "too_large", detail: `${path} is larger than ${limit} bytes` };
    return { ok: true, text: buffer.toString("utf8", 0, bytesRead) };
  } catch (err) {
    return { ok: false, reason: "unreadable", detail: `${path}: ${(err as Error).message}` };
  } finally {
    await handle.close();
  }
}
