import type { IncomingHttpHeaders } from "node:http";
import type { HttpLog } from "./http-log.js";
import { BasicAuthVerifier } from "./web-auth.js";
import type { WebConfig } from "./web-config.js";
import type { WebConfigSource } from "./web-config-source.js";

export interface Routes {
  readonly telemetryPath: string;
  /**
   * The body at once when one is ready, else a promise of the first one: buffers written one
   * after the other (the rendering's parts, never copied into one).
   */
  readonly metrics: () => {
    contentType: string;
    body: Buffer | readonly Buffer[] | Promise<Buffer | readonly Buffer[]>;
    /** Called once when the answer is written out or abandoned: the body may be reused then. */
    done?: () => void;
  };
  /** Promises when the page is made on another thread (serve-worker.ts). */
  readonly landing: () => string | Promise<string>;
  /**
   * The findings as JSON text, in the language of ?lang= (en or zh-CN); made by the caller, so a
   * serving worker does not load the checks (~5 MiB).
   */
  readonly checks: (lang: string) => string | Promise<string>;
  /**
   * Why the exporter cannot vouch for its answers, if so: /healthz and /metrics are then 503 (a
   * worker thread serving for a main thread that stopped answering, serve-worker.ts).
   */
  readonly unhealthy?: () => string | undefined;
}

/** What handle() needs of a request and its answer, over HTTP/1.1 or HTTP/2 alike. */
export interface Request {
  readonly url?: string | undefined;
  readonly method?: string | undefined;
  readonly headers: IncomingHttpHeaders;
}
export interface Response {
  readonly headersSent: boolean;
  /**
   * Closed already (a client gone while its login was checked): no "close" follows. HTTP/1.1
   * says so on the answer, HTTP/2 on its stream.
   */
  readonly destroyed?: boolean;
  readonly stream?: { readonly destroyed: boolean };
  setHeader(name: string, value: string): unknown;
  writeHead(status: number, headers: Record<string, string | number>): unknown;
  write(body: Buffer): unknown;
  end(): unknown;
  end(body: string | Buffer): unknown;
  once(event: "finish" | "close", listener: () => void): unknown;
}

/** One request's way, over HTTP/1.1 or HTTP/2: headers, auth, rate limit, in-flight cap, route. */
export class Requests {
  private inFlight = 0;
  private readonly auth = new BasicAuthVerifier();
  private tokens = 0;
  private tokensAt = 0;
  private bucketFor: WebConfig["rateLimit"];

  constructor(
    private readonly routes: Routes,
    private readonly log: HttpLog,
    private readonly options: {
      /** Requests being answered at once at most; past it, 503. */
      readonly maxRequests: number;
      readonly webConfig?: WebConfigSource | undefined;
    },
  ) {}

  async handle(req: Request, res: Response): Promise<void> {
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
    const unhealthy =
      path === this.routes.telemetryPath || path === "/healthz"
        ? this.routes.unhealthy?.()
        : undefined;
    if (unhealthy !== undefined) {
      this.send(req, res, 503, "text/plain; charset=utf-8", `${unhealthy}\n`);
    } else if (path === this.routes.telemetryPath) {
      const { contentType, body, done } = this.routes.metrics();
      if (done) {
        let called = false;
        const once = (): void => {
          if (!called) done();
          called = true;
        };
        res.once("finish", once);
        res.once("close", once);
        // A client gone before this (while its login was checked): "close" came already.
        if (res.destroyed === true || res.stream?.destroyed === true) once();
      }
      this.send(req, res, 200, contentType, body instanceof Promise ? await body : body);
    } else if (path === "/") {
      this.send(req, res, 200, "text/html; charset=utf-8", await this.routes.landing());
    } else if (path === "/checks") {
      const lang = new URLSearchParams((req.url ?? "").split("?")[1] ?? "").get("lang") ?? "en";
      if (lang !== "en" && lang !== "zh-CN") {
        this.send(req, res, 400, "text/plain; charset=utf-8", "lang must be en or zh-CN\n");
        return;
      }
      const body = await this.routes.checks(lang);
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
    body: string | Buffer | readonly Buffer[],
  ): void {
    if (typeof body === "string" || Buffer.isBuffer(body)) {
      res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
      if (req.method === "HEAD") res.end();
      else res.end(body);
      return;
    }
    const length = body.reduce((sum, part) => sum + part.length, 0);
    res.writeHead(status, { "content-type": type, "content-length": length });
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    // Each part as it is, the last with the end: the socket's writev sends them together.
    for (const [i, part] of body.entries())
      if (i < body.length - 1) res.write(part);
      else res.end(part);
    if (body.length === 0) res.end();
  }
}
