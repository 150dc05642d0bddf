import { createServer } from "node:http";
import type { Server } from "node:http";
import type { Http2Server, createServer as CreateH2Server } from "node:http2";
import { createServer as createNetServer } from "node:net";
import type { AddressInfo, Server as NetServer, Socket } from "node:net";
import type { Server as TlsServer, TLSSocket } from "node:tls";
import type { HttpLog } from "./http-log.js";
import type { ListenAddress } from "../../config.js";
import { MeteredSocket } from "./metered-socket.js";
import type { Routes } from "./requests.js";
import { Requests } from "./requests.js";
import type { Connection } from "./pipeline.js";
import { Pipeline } from "./pipeline.js";
import type { WebConfigSource } from "./web-config-source.js";
import type { TlsServerSettings, refuseClient } from "./web-tls.js";
import { looksLikeHttp, plainHttpAnswer } from "./web-plain-http.js";

export type { Routes } from "./requests.js";

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
/** The HTTP face: /metrics (configurable), /, /checks, /healthz; anything else is 404. */
export class ExporterServer {
  private front: NetServer | undefined;
  private http: Server | undefined;
  private h2: Http2Server | undefined;
  private readonly connections = new Set<Connection>();
  private readonly byRaw = new WeakMap<Socket, Connection>();
  /** One request per connection at a time, in the order they came. */
  private readonly pipeline: Pipeline;
  /** What a request gets: auth, rate limit, the in-flight cap and the routes. */
  private readonly requests: Requests;
  private tlsInForce: TlsServerSettings | undefined;
  private refuse: typeof refuseClient | undefined;

  constructor(
    routes: Routes,
    private readonly log: HttpLog,
    private readonly options: ServerOptions = { maxConnections: 512, maxRequests: 40 },
  ) {
    this.requests = new Requests(routes, log, options);
    this.pipeline = new Pipeline((req, res) => void this.requests.handle(req, res));
  }

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
      (req, res) => this.pipeline.enqueue(req, res),
    );
    http.keepAliveTimeout = timeouts.keepAliveMs;
    // The timeouts above are checked on connections tracked from 'listening' on (Node's
    // setupConnectionsTracking); this server never listens itself, so start that here.
    http.emit("listening");
    const tls = this.options.webConfig?.currentTls();
    let front: NetServer;
    if (tls) {
      // TLS and HTTP/2 are loaded only when a web config asks for TLS (~4 MiB of RSS otherwise).
      const [{ createServer: createTlsServer }, { createServer: createH2Server }, tlsChecks] =
        await Promise.all([import("node:tls"), import("node:http2"), import("./web-tls.js")]);
      this.refuse = tlsChecks.refuseClient;
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
      if (http2) this.h2 = this.makeH2(createH2Server, timeouts.keepAliveMs);
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
    this.pipeline.byStream.set(stream, connection);
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

  private makeH2(createH2Server: typeof CreateH2Server, idleMs: number): Http2Server {
    const h2 = createH2Server(
      {
        settings: { maxConcurrentStreams: h2Streams, maxHeaderListSize: 16 * 1024 },
        maxSessionMemory: 4,
      },
      (req, res) => void this.requests.handle(req, res),
    );
    // Sessions idle this long are closed, as idle HTTP/1.1 keep-alives are.
    h2.setTimeout(idleMs);
    h2.on("sessionError", (err) => this.log.debug({ err: err.message }, "HTTP/2 session error"));
    return h2;
  }

  private secured(http: Server, socket: TLSSocket): void {
    const tls = this.tlsInForce;
    const refused = tls && this.refuse ? this.refuse(socket, tls.settings) : undefined;
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
}
