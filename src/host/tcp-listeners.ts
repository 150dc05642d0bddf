import { readTextAsync } from "./files.js";
import type { HostRoots } from "./paths.js";
import { procPath } from "./paths.js";

export interface TcpListener {
  readonly port: number;
  readonly uid: number;
}

/** One line of /proc/PID/net/tcp or tcp6 (proc(5)): its LISTEN socket (state 0A), if it is one. */
function parseTcpLine(line: string): TcpListener | undefined {
  const fields = line.trim().split(/\s+/);
  const local = /^[0-9A-Fa-f]+:([0-9A-Fa-f]{4})$/.exec(fields[1] ?? "");
  const uid = fields[7] ?? "";
  if (!local?.[1] || fields[3] !== "0A" || !/^\d{1,10}$/.test(uid)) return undefined;
  return { port: parseInt(local[1], 16), uid: Number(uid) };
}

/** The LISTEN sockets of /proc/PID/net/tcp or tcp6 after its header; malformed lines are skipped. */
export function parseTcpListeners(text: string): TcpListener[] {
  return text
    .split("\n")
    .slice(1)
    .map(parseTcpLine)
    .filter((l): l is TcpListener => l !== undefined);
}

/**
 * The most of /proc/PID/net/tcp read: every user can grow the host's table with sockets (about
 * 150 bytes each), and the probe polls it.
 */
const maxTcpTableBytes = 8 * 1024 * 1024;

/** Whether `uid` has a TCP socket listening on `port` in the network namespace of process `pid`. */
export async function listensOn(
  roots: HostRoots,
  pid: number,
  port: number,
  uid: number,
): Promise<boolean> {
  // Only the lines naming the port are parsed: the table may hold 50,000 others.
  const local = `:${port.toString(16).toUpperCase().padStart(4, "0")} `;
  for (const file of ["net/tcp", "net/tcp6"]) {
    const text = await readTextAsync(procPath(roots, String(pid), file), maxTcpTableBytes);
    if (!text.ok) continue;
    for (let at = text.text.indexOf(local); at !== -1; at = text.text.indexOf(local, at + 1)) {
      const start = text.text.lastIndexOf("\n", at) + 1;
      const end = text.text.indexOf("\n", at);
      const line = text.text.slice(start, end === -1 ? undefined : end);
      const listener = parseTcpLine(line);
      if (listener?.port === port && listener.uid === uid) return true;
    }
  }
  return false;
}
