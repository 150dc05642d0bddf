import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { ListenAddress } from "../config.js";

export interface Routes {
  readonly telemetryPath: string;
  /** The body at once when one is ready, else a promise of the first one. */
  readonly metrics: () => { contentType: string; body: Buffer | Promise<Buffer> };
  readonly landing: () => string;
  /** The findings as JSON, in the language of ?lang= (en or zh-CN). */
  readonly checks: (lang: string) => unknown;
}

/** The HTTP face: /metrics (configurable), /, /healthz; anything else is 404. */
export class ExporterServer {
  private server: Server | undefined;

  constructor(
    private readonly routes: Routes,
    private readonly log: Logger,
  ) {}

  /** Binds and resolves with the bound address; rejects with a clear message if it cannot. */
  async start(listen: ListenAddress): Promise<AddressInfo> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) => {
        const where = `${listen.host ?? ""}:${listen.port}`;
        const why =
          err.code === "EADDRINUSE"
            ? "the address is already in use"
            : err.code === "EACCES"
              ? "permission denied (ports below 1024 need privileges)"
              : err.message;
        reject(new Error(`cannot listen on ${where}: ${why}`));
      });
      server.listen({ host: listen.host, port: listen.port }, () => resolve());
    });
    server.on("error", (err) => this.log.error({ err }, "http server error"));
    this.server = server;
    return server.address() as AddressInfo;
  }

  /** Stops accepting, drops idle keep-alive connections and waits for the rest to finish. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const force = setTimeout(() => server.closeAllConnections(), 2000);
    await closed;
    clearTimeout(force);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?", 1)[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res
        .writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" })
        .end("method not allowed\n");
      return;
    }
    try {
      if (path === this.routes.telemetryPath) {
        const { contentType, body } = this.routes.metrics();
        this.send(req, res, 200, contentType, Buffer.isBuffer(body) ? body : await body);
      } else if (path === "/") {
        this.send(req, res, 200, "text/html; charset=utf-8", this.routes.landing());
      } else if (path === "/checks") {
        const lang = new URLSearchParams((req.url ?? "").split("?")[1] ?? "").get("lang") ?? "en";
        if (lang !== "en" && lang !== "zh-CN") {
          this.send(req, res, 400, "text/plain; charset=utf-8", "lang must be en or zh-CN\n");
          return;
        }
        const body = `${JSON.stringify(this.routes.checks(lang), null, 2)}\n`;
        this.send(req, res, 200, "application/json; charset=utf-8", body);
      } else if (path === "/healthz") {
        this.send(req, res, 200, "text/plain; charset=utf-8", "ok\n");
      } else {
        this.send(req, res, 404, "text/plain; charset=utf-8", "not found\n");
      }
    } catch (err) {
      this.log.error({ err, path }, "request failed");
      if (!res.headersSent)
        this.send(req, res, 500, "text/plain; charset=utf-8", "internal error\n");
    }
  }

  private send(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    type: string,
    body: string | Buffer,
  ): void {
    res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
    res.end(req.method === "HEAD" ? undefined : body);
  }
}
