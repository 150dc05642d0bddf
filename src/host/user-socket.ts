import type { UnixHttpOptions, UnixHttpResult } from "./unix-http.js";
import { unixHttp } from "./unix-http.js";
import { withUserSocket } from "./user-files.js";

/**
 * An HTTP request on a unix socket in a watched user's tree (docker.sock, rootlesskit's
 * api.sock). For the exporter's own user, as it is. Across a privilege boundary the path is the
 * user's to plant (a symlink to root's /run/docker.sock), so the request goes to exactly the
 * socket checked as theirs, or nowhere.
 */
export async function userSocketHttp(
  socket: string,
  uid: number,
  path: string,
  options: UnixHttpOptions,
): Promise<UnixHttpResult> {
  if (uid === process.geteuid?.()) return unixHttp(socket, path, options);
  const held = await withUserSocket(socket, uid, (via) => unixHttp(via, path, options));
  if (!held.ok)
    return {
      ok: false,
      reason: held.state === "missing" ? "missing" : "error",
      detail: `not connecting: ${held.detail}`,
    };
  const result = held.value;
  // Errors name the socket, not the descriptor it was reached through.
  return result.ok
    ? result
    : { ...result, detail: result.detail.replaceAll(/\/proc\/self\/fd\/\d+/g, socket) };
}
