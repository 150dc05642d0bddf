import { createServer } from "node:http";
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from "node:http";
import { createServer as createH2Server } from "node:http2";
import type { Http2Server } from "node:http2";
import { createServer as createNetServer } from "node:net";
import type { AddressInfo, Server as NetServer, Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import type { Server as TlsServer, TLSSocket } from "node:tls";
import type { Logger } from "pino";
import type { ListenAddress } from "../../config.js";
import { checksJsonText } from "../render/findings.js";
import { MeteredSocket } from "./metered-socket.js";
import { BasicAuthVerifier } from "./web-auth.js";
import type { WebConfig } from "./web-config.js";
import type { WebConfigSource } from "./web-config-source.js";
import type { TlsServerSettings } from "./web-tls.js";
import { refuseClient } from "./web-tls.js";
import { looksLikeHttp, plainHttpAnswer } from "./web-plain-http.js";

export interface Routes {
  readonly telemetryPath: string;
  /** The body at once when one is ready, else a promise of the first one. */
  readonly metrics: () => { contentType: string; body: Buffer | Promise<Buffer> };
  readonly landing: () => string;
  /** The findings as JSON, in the language of ?lang= (en or zh-CN). */
  readonly checks: (lang: string) => unknown;
}

/** What handle() needs of a request and its answer, over HTTP/1.1 or HTTP/2 alike. */
interface Request {
  readonly url?: string | undefined;
  readonly method?: string | undefined;
  readonly headers: IncomingHttpHeaders;
}
interface Response {
  readonly headersSent: boolean;
  setHeader(name: string, value: string): unknown;
  writeHead(status: number, headers: Record<string, string | number>): unknown;
  end(): unknown;
  end(body: string | Buffer): unknown;
}

export interface ServerOptions {
  /** Open connections at most; a new one past it closes the oldest idle one. */
  readonly maxConnections: number;
  /** Requests being answered at once at most; past it, 503 (node_exporter's --web.max-requests). */
  readonly maxRequests: number;
  readonly webConfig?: WebConfigSource;
  /** Shorter timeouts, for tests. */
  readonly timeouts?: Partial<typeof defaultTimeouts>;
}

/** A failure to bind: main prints it on one plain line and exits 1. */
export class ListenError extends Error {}

// Bounds on what one client can hold: slow headers, slow bodies, idle keep-alive, TLS handshakes.
const defaultTimeouts = { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 65_000 };
const handshakeTimeoutMs = 10_000;
/** HTTP/2 streams one connection may have open; a scraper needs one. */
const h2Streams = 16;
/**
 * Requests parsed ahead of their answers; a 512-byte slice holds fewer, so this is only a net
 * (past it the connection is closed).
 */
const maxPipelined = 64;
const pipelinedPerTurn = 16;

interface Connection {
  readonly raw: Socket;
  /** Requests parsed and waiting for the one before them to be written out. */
  readonly queue: (() => void)[];
  /** A request of this connection is being answered (or its answer is not yet written out). */
  busy: boolean;
  stream: MeteredSocket | undefined;
}

/** The HTTP face: /metrics (configurable), /, /checks, /healthz; anything else is 404. */
export class ExporterServer {
  private front: NetServer | undefined;
  private http: Server | undefined;
  private h2: Http2Server | undefined;
  private readonly connections = new Set<Connection>();
  private readonly byRaw = new WeakMap<Socket, Connection>();
  /** By the stream the HTTP server reads (req.socket). */
  private readonly byStream = new WeakMap<object, Connection>();
  private inFlight = 0;
  /** Connections whose next pipelined request waits for a turn (see later()). */
  private waiting: Connection[] = [];
  private readonly auth = new BasicAuthVerifier();
  private tokens = 0;
  private tokensAt = 0;
  private bucketFor: WebConfig["rateLimit"];
  private tlsInForce: TlsServerSettings | undefined;

  constructor(
    private readonly routes: Routes,
    private readonly log: Logger,
    private readonly options: ServerOptions = { maxConnections: 512, maxRequests: 40 },
  ) {}

  /** Binds and resolves with the bound address; rejects with a ListenError if it cannot. */
  async start(listen: ListenAddress): Promise<AddressInfo> {
    const timeouts = { ...defaultTimeouts, ...this.options.timeouts };
    // The HTTP server never listens: connections reach it through a MeteredSocket, so the
    // parser sees one small slice at a time (see metered-socket.ts).
    const http = createServer(
      {
        headersTimeout: timeouts.headersMs,
        requestTimeout: timeouts.requestMs,
        keepAliveTimeout: timeouts.keepAliveMs,
        // Node checks the two timeouts above only this often (30 s by default).
        connectionsCheckingInterval: 1000,
      },
      (req, res) => this.enqueue(req, res),
    );
    http.keepAliveTimeout = timeouts.keepAliveMs;
    // The timeouts above are checked on connections tracked from 'listening' on (Node's
    // setupConnectionsTracking); this server never listens itself, so start that here.
    http.emit("listening");
    const tls = this.options.webConfig?.currentTls();
    let front: NetServer;
    if (tls) {
      this.tlsInForce = tls;
      // Read at start, as the toolkit reads it: ALPN is fixed for the life of the server.
      const http2 = this.options.webConfig?.current().http2 ?? false;
      const tlsServer = createTlsServer({
        ...tls.context,
        requestCert: tls.requestCert,
        rejectUnauthorized: tls.rejectUnauthorized,
        handshakeTimeout: handshakeTimeoutMs,
        ALPNProtocols: http2 ? ["h2", "http/1.1"] : ["http/1.1"],
      });
      tlsServer.on("secureConnection", (socket: TLSSocket) => this.secured(http, socket));
      // At info, as Go's net/http logs each TLS handshake error; a certificate refused by
      // verification ends here too (Node drops it before "secureConnection"), with its reason.
      tlsServer.on("tlsClientError", (err, socket: TLSSocket) => {
        const reason = socket.authorizationError;
        if (reason)
          this.log.info(
            { reason: String(reason), remote: socket.remoteAddress },
            "TLS client certificate refused",
          );
        else
          this.log.info({ err: err.message, remote: socket.remoteAddress }, "TLS handshake failed");
      });
      if (http2) this.h2 = this.makeH2(timeouts.keepAliveMs);
      // A net server in front, so a plain-HTTP request can be told from a TLS hello and answered.
      front = createNetServer((raw) => {
        if (this.track(raw)) this.sniff(raw, tlsServer);
      });
    } else {
      front = createNetServer((raw) => {
        const connection = this.track(raw);
        if (connection) this.hand(http, connection, raw);
      });
    }
    await new Promise<void>((resolve, reject) => {
      front.once("error", (err: NodeJS.ErrnoException) => {
        const where = `${listen.host ?? ""}:${listen.port}`;
        const why =
          err.code === "EADDRINUSE"
            ? "the address is already in use"
            : err.code === "EACCES"
              ? "permission denied (ports below 1024 need privileges)"
              : err.message;
        reject(new ListenError(`cannot listen on ${where}: ${why}`));
      });
      front.listen({ host: listen.host, port: listen.port }, () => resolve());
    });
    front.on("error", (err) => this.log.error({ err }, "http server error"));
    this.front = front;
    this.http = http;
    return front.address() as AddressInfo;
  }

  /** Stops accepting, drops idle keep-alive connections and waits for the rest to finish. */
  async stop(): Promise<void> {
    const front = this.front;
    const http = this.http;
    if (!front || !http) return;
    this.front = undefined;
    this.http = undefined;
    this.h2?.close();
    this.h2 = undefined;
    const closed = new Promise<void>((resolve) => front.close(() => resolve()));
    // Clears the timeout checker; the "not running" error is expected, it never listened.
    http.close(() => undefined);
    for (const connection of this.connections)
      if (!connection.busy && connection.queue.length === 0) connection.raw.destroy();
    const force = setTimeout(() => {
      http.closeAllConnections();
      for (const connection of this.connections) connection.raw.destroy();
    }, 2000);
    await closed;
    clearTimeout(force);
  }

  /** Open connections, for tests and the log. */
  get openConnections(): number {
    return this.connections.size;
  }

  private track(raw: Socket): Connection | undefined {
    if (this.connections.size >= this.options.maxConnections) {
      // Past the cap, the oldest connection that is not being answered makes room: idle
      // keep-alives and clients that never finish their headers cannot lock others out.
      let victim: Connection | undefined;
      for (const connection of this.connections) {
        if (!connection.busy) {
          victim = connection;
          break;
        }
      }
      if (!victim) {
        raw.destroy();
        return undefined;
      }
      victim.raw.destroy();
      this.connections.delete(victim);
    }
    const connection: Connection = { raw, queue: [], busy: false, stream: undefined };
    this.connections.add(connection);
    this.byRaw.set(raw, connection);
    raw.once("close", () => this.connections.delete(connection));
    return connection;
  }

  /** Gives the HTTP server the connection through a MeteredSocket. */
  private hand(http: Server, connection: Connection, socket: Socket | TLSSocket): void {
    const stream = new MeteredSocket(
      socket,
      () => !connection.busy && connection.queue.length === 0,
    );
    connection.stream = stream;
    this.byStream.set(stream, connection);
    http.emit("connection", stream);
  }

  private refreshTls(server: TlsServer): void {
    const tls = this.options.webConfig?.currentTls();
    if (!tls || tls === this.tlsInForce) return;
    this.tlsInForce = tls;
    server.setSecureContext(tls.context);
    // tls.Server reads these two for each new connection (lib/_tls_wrap.js tlsConnectionListener).
    Object.assign(server, {
      requestCert: tls.requestCert,
      rejectUnauthorized: tls.rejectUnauthorized,
    });
  }

  /**
   * The first bytes decide: a TLS record goes to the TLS server, an HTTP request line gets Go's
   * 400 in plain text, as a Go exporter answers it.
   */
  private sniff(raw: Socket, tlsServer: TlsServer): void {
    let seen = Buffer.alloc(0);
    const timer = setTimeout(() => raw.destroy(), handshakeTimeoutMs);
    const onData = (chunk: Buffer): void => {
      seen = Buffer.concat([seen, chunk]);
      const verdict = looksLikeHttp(seen);
      if (verdict === "undecided") return;
      clearTimeout(timer);
      raw.off("data", onData).off("end", onEnd);
      raw.pause();
      if (verdict === "http") {
        raw.end(plainHttpAnswer);
        return;
      }
      // tls.TLSSocket takes what was read already from the stream's buffer.
      raw.unshift(seen);
      this.refreshTls(tlsServer);
      tlsServer.emit("connection", raw);
    };
    const onEnd = (): void => {
      clearTimeout(timer);
      raw.destroy();
    };
    // Nobody else listens on the raw socket yet: a reset here must not be an unhandled error.
    raw.on("error", () => raw.destroy());
    raw.once("close", () => clearTimeout(timer));
    raw.on("data", onData).once("end", onEnd);
  }

  private makeH2(idleMs: number): Http2Server {
    const h2 = createH2Server(
      {
        settings: { maxConcurrentStreams: h2Streams, maxHeaderListSize: 16 * 1024 },
        maxSessionMemory: 4,
      },
      (req, res) => void this.handle(req, res),
    );
    // Sessions idle this long are closed, as idle HTTP/1.1 keep-alives are.
    h2.setTimeout(idleMs);
    h2.on("sessionError", (err) => this.log.debug({ err: err.message }, "HTTP/2 session error"));
    return h2;
  }

  private secured(http: Server, socket: TLSSocket): void {
    const tls = this.tlsInForce;
    const refused = tls ? refuseClient(socket, tls.settings) : undefined;
    if (refused) {
      this.log.info(
        { reason: refused, remote: socket.remoteAddress },
        "TLS client certificate refused",
      );
      socket.destroy();
      return;
    }
    if (socket.alpnProtocol === "h2" && this.h2) {
      this.log.debug({ remote: socket.remoteAddress }, "HTTP/2 connection");
      this.h2.emit("connection", socket);
      return;
    }
    // The TLS socket wraps the raw one that track() saw (undocumented but stable since Node 0.11).
    const raw = (socket as TLSSocket & { _parent?: Socket })._parent;
    const connection = (raw && this.byRaw.get(raw)) ?? this.track(socket);
    if (connection) this.hand(http, connection, socket);
  }

  /** One request per connection at a time, the next only once the answer before is written out. */
  private enqueue(req: IncomingMessage, res: ServerResponse): void {
    const connection = this.byStream.get(req.socket);
    if (!connection) {
      void this.handle(req, res);
      return;
    }
    if (connection.queue.length >= maxPipelined) {
      req.socket.destroy();
      return;
    }
    connection.queue.push(() => {
      const done = (): void => {
        res.off("finish", done).off("close", done);
        connection.busy = false;
        if (connection.queue.length === 0) this.next(connection);
        else this.later(connection);
      };
      // "finish" comes when the answer was handed to the kernel: a client that does not read
      // holds up only its own connection, with one answer in memory.
      res.on("finish", done).on("close", done);
      void this.handle(req, res);
    });
    this.next(connection);
  }

  /**
   * A pipelined request waits for a later turn of the event loop, and a turn answers at most
   * `pipelinedPerTurn` of them across all connections: while the kernel takes every write at
   * once, pipelining clients would otherwise be answered back to back and starve a new scrape,
   * which is answered as soon as it is read.
   */
  private later(connection: Connection): void {
    this.waiting.push(connection);
    if (this.waiting.length === 1) setImmediate(() => this.turn());
  }

  private turn(): void {
    const now = this.waiting.splice(0, pipelinedPerTurn);
    for (const connection of now) this.next(connection);
    if (this.waiting.length > 0) setImmediate(() => this.turn());
  }

  private next(connection: Connection): void {
    if (connection.busy || connection.raw.destroyed) return;
    const run = connection.queue.shift();
    if (!run) {
      connection.stream?.kick();
      return;
    }
    connection.busy = true;
    run();
  }

  private async handle(req: Request, res: Response): Promise<void> {
    const path = (req.url ?? "/").split("?", 1)[0] ?? "/";
    const web = this.options.webConfig?.current();
    for (const [name, value] of Object.entries(web?.headers ?? {})) res.setHeader(name, value);
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" });
      res.end("method not allowed\n");
      return;
    }
    if (web?.rateLimit && !this.takeToken(web.rateLimit)) {
      this.send(req, res, 429, "text/plain; charset=utf-8", "too many requests\n");
      return;
    }
    try {
      // Before the in-flight cap, as in node_exporter (the toolkit's handler wraps the capped
      // one): a login waiting on a verdict costs no bcrypt of its own and must not be refused.
      // /healthz stays open so liveness probes need no credentials; it says only "ok".
      if (web && web.users.size > 0 && path !== "/healthz") {
        const auth = await this.auth.check(web.users, req.headers.authorization);
        if (auth === "busy") {
          res.setHeader("retry-after", "1");
          this.send(req, res, 503, "text/plain; charset=utf-8", "too many logins at once\n");
          return;
        }
        if (auth === "denied") {
          res.setHeader("www-authenticate", 'Basic realm="rootless-exporter"');
          this.send(req, res, 401, "text/plain; charset=utf-8", "unauthorized\n");
          return;
        }
      }
    } catch (err) {
      this.log.error({ err, path }, "login check failed");
      this.send(req, res, 500, "text/plain; charset=utf-8", "internal error\n");
      return;
    }
    // /healthz costs nothing and must answer while the exporter is busy.
    if (this.inFlight >= this.options.maxRequests && path !== "/healthz") {
      res.setHeader("retry-after", "1");
      this.send(req, res, 503, "text/plain; charset=utf-8", "too many requests in flight\n");
      return;
    }
    this.inFlight++;
    try {
      await this.route(path, req, res);
    } catch (err) {
      this.log.error({ err, path }, "request failed");
      if (!res.headersSent)
        this.send(req, res, 500, "text/plain; charset=utf-8", "internal error\n");
    } finally {
      this.inFlight--;
    }
  }

  private async route(path: string, req: Request, res: Response): Promise<void> {
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
      // Facts quote what users wrote: bidi and line-separator characters go out as \uXXXX.
      const body = checksJsonText(this.routes.checks(lang));
      this.send(req, res, 200, "application/json; charset=utf-8", body);
    } else if (path === "/healthz") {
      this.send(req, res, 200, "text/plain; charset=utf-8", "ok\n");
    } else {
      this.send(req, res, 404, "text/plain; charset=utf-8", "not found\n");
    }
  }

  /** The toolkit's rate_limit: a token bucket of `burst` refilled one token per interval. */
  private takeToken(limit: NonNullable<WebConfig["rateLimit"]>): boolean {
    const now = Date.now();
    if (this.bucketFor !== limit) {
      this.bucketFor = limit;
      this.tokens = limit.burst;
      this.tokensAt = now;
    }
    this.tokens = Math.min(limit.burst, this.tokens + (now - this.tokensAt) / limit.intervalMs);
    this.tokensAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private send(
    req: Request,
    res: Response,
    status: number,
    type: string,
    body: string | Buffer,
  ): void {
    res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
    if (req.method === "HEAD") res.end();
    else res.end(body);
  }
}
