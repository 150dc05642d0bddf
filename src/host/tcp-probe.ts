import { connect, createServer } from "node:net";
import type { AddressInfo, Server, Socket } from "node:net";

/**
 * The throughput probe's wire protocol, used on both sides (the exporter and the agent it starts
 * inside rootlesskit's namespace). The accepting side streams `bytes` bytes to whoever connects;
 * the connecting side counts them and answers one JSON line with what it measured. The receiver
 * is always the connecting side because only a connecting socket can read into one large reused
 * buffer (`onread`): with Node's default 64 KiB reads the receiver was the bottleneck (0.3x of
 * iperf3 on the builtin port driver). Bounded in bytes and in time on both sides.
 */
export interface ProbeReport {
  /** Bytes timed: everything after the warm-up quarter. */
  readonly bytes: number;
  /** From the end of the warm-up to the last byte, on the receiving side. */
  readonly seconds: number;
  /** CPU time the receiving process spent during the transfer. */
  readonly cpuSeconds: number;
}

/** The first quarter warms up TCP's congestion window and the JIT; only the rest is timed. */
export function warmupBytes(bytes: number): number {
  return Math.floor(bytes / 4);
}

/** 1 MiB writes and reads: smaller ones cost the slirp4netns path a third of its throughput. */
const chunkSize = 1024 * 1024;
const chunk = Buffer.alloc(chunkSize, 0x5a);

export function listen(host: string, port = 0): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ host, port, backlog: 4 }, () => resolve(server));
  });
}

export function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}

function stream(socket: Socket, bytes: number): void {
  let left = bytes;
  const pump = (): void => {
    while (left > 0) {
      const piece = left >= chunkSize ? chunk : chunk.subarray(0, left);
      left -= piece.length;
      if (!socket.write(piece)) {
        socket.once("drain", pump);
        return;
      }
    }
  };
  pump();
}

export interface ServedProbe {
  /** The address the connection came from, as this side saw it. */
  readonly peer: string;
  /** The receiver's measurement. */
  readonly report: ProbeReport;
}

/** Accepts one connection, streams `bytes` bytes to it, and returns the receiver's report. */
export function serveOnce(
  server: Server,
  bytes: number,
  timeoutMs: number,
  /** Which peers may be served; another is cut at once and the server waits on. */
  accept: (peer: string) => boolean = () => true,
): Promise<ServedProbe> {
  return new Promise((resolve, reject) => {
    let socket: Socket | undefined;
    const timer = setTimeout(() => {
      server.close();
      socket?.destroy();
      reject(new Error(`no report for ${bytes} bytes within ${timeoutMs} ms`));
    }, timeoutMs);
    const onConnection = (conn: Socket) => {
      const peer = (conn.remoteAddress ?? "").replace(/^::ffff:/, "");
      if (!accept(peer)) {
        conn.destroy();
        return;
      }
      server.off("connection", onConnection);
      socket = conn;
      server.close();
      let answer = "";
      conn.on("data", (data: Buffer) => (answer += data.toString()));
      conn.on("end", () => {
        clearTimeout(timer);
        conn.end();
        try {
          resolve({ peer, report: JSON.parse(answer) as ProbeReport });
        } catch {
          reject(new Error(`the receiver answered ${JSON.stringify(answer.slice(0, 100))}`));
        }
      });
      conn.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      stream(conn, bytes);
    };
    server.on("connection", onConnection);
  });
}

/** Connects, reads `bytes` bytes into one reused buffer, answers the report, and returns it. */
export function fetchOnce(
  host: string,
  port: number,
  bytes: number,
  timeoutMs: number,
  localAddress?: string,
): Promise<ProbeReport> {
  return new Promise((resolve, reject) => {
    const cpu = process.cpuUsage();
    const warmup = warmupBytes(bytes);
    let received = 0;
    let timedFrom = 0;
    let startedAt = 0;
    let done = false;
    const socket: Socket = connect({
      host,
      port,
      ...(localAddress && { localAddress }),
      onread: {
        buffer: Buffer.allocUnsafe(chunkSize),
        callback: (nread: number) => {
          received += nread;
          if (startedAt === 0 && received >= warmup) {
            startedAt = performance.now();
            timedFrom = received;
          }
          if (received >= bytes && !done) {
            done = true;
            const used = process.cpuUsage(cpu);
            const report: ProbeReport = {
              bytes: received - timedFrom,
              seconds: (performance.now() - startedAt) / 1000,
              cpuSeconds: (used.user + used.system) / 1e6,
            };
            clearTimeout(timer);
            socket.end(`${JSON.stringify(report)}\n`);
            resolve(report);
          }
          return true;
        },
      },
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(`${received} of ${bytes} bytes from ${host}:${port} within ${timeoutMs} ms`),
      );
    }, timeoutMs);
    socket.on("error", (err) => {
      clearTimeout(timer);
      if (!done) reject(err);
    });
    socket.on("end", () => {
      if (!done) {
        clearTimeout(timer);
        reject(new Error(`${host}:${port} closed after ${received} of ${bytes} bytes`));
      }
    });
  });
}
