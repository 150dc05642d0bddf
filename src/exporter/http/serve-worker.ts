import type { AddressInfo } from "node:net";
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import type { MessagePort } from "node:worker_threads";
import type { HttpLog } from "./http-log.js";
import { ExporterServer, ListenError } from "./server.js";
import type { Routes } from "./server.js";
import { defaultAliveWithinMs } from "./serving-thread.js";
import type { ToMain, ToWorker, WorkerSettings } from "./serving-thread.js";
import type { WebConfigSource } from "./web-config-source.js";

/** One body the main thread lent: served until a newer one came and no answer still writes it. */
interface Lent {
  readonly id: number;
  readonly parts: readonly Buffer[];
  readonly contentType: string;
  writers: number;
  superseded: boolean;
}

/**
 * The HTTP server on a worker thread (serving-thread.ts starts it): /metrics answered from the
 * last body the main thread published, in shared memory, so a scrape never waits for the main
 * thread's turns or its garbage collector; /, /checks asked of the main thread.
 */
class ServeWorker {
  private readonly server: ExporterServer;
  private current: Lent | undefined;
  private firstBody: { promise: Promise<void>; resolve: () => void };
  private readonly asked = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (err: Error) => void }
  >();
  private nextAsk = 0;
  /** When the main thread was last heard from (any message). */
  private heardAt = Date.now();

  constructor(
    private readonly port: MessagePort,
    private readonly settings: WorkerSettings,
    log: HttpLog,
    webConfig: WebConfigSource | undefined,
  ) {
    let resolve = (): void => undefined;
    const promise = new Promise<void>((r) => (resolve = r));
    this.firstBody = { promise, resolve };
    const routes: Routes = {
      telemetryPath: settings.telemetryPath,
      metrics: () => this.metrics(),
      landing: () => this.ask({ page: "landing" }) as Promise<string>,
      checks: (lang) => this.ask({ page: "checks", lang }) as Promise<string>,
      unhealthy: () => {
        const silentMs = Date.now() - this.heardAt;
        return silentMs > (settings.aliveWithinMs ?? defaultAliveWithinMs)
          ? `the exporter's main thread has not answered for ${Math.round(silentMs / 1000)} s`
          : undefined;
      },
    };
    this.server = new ExporterServer(routes, log, {
      maxConnections: settings.maxConnections,
      maxRequests: settings.maxRequests,
      webConfig,
      timeouts: settings.timeouts,
    });
    port.on("message", (message: ToWorker) => this.receive(message));
  }

  async start(): Promise<AddressInfo> {
    return this.server.start(this.settings.listen);
  }

  private metrics(): ReturnType<Routes["metrics"]> {
    this.port.postMessage({ kind: "scraped" } satisfies ToMain);
    let taken: Lent | undefined;
    const take = (lent: Lent): readonly Buffer[] => {
      taken = lent;
      lent.writers++;
      return lent.parts;
    };
    const done = (): void => {
      if (!taken) return;
      taken.writers--;
      this.releaseIfDone(taken);
    };
    const now = this.current;
    if (now) return { contentType: now.contentType, body: take(now), done };
    // Before the first rendering: the scrape waits for it, as on the main thread.
    const body = this.firstBody.promise.then(() => take(this.current as Lent));
    return { contentType: this.settings.contentType, body, done };
  }

  private releaseIfDone(lent: Lent): void {
    if (lent.superseded && lent.writers === 0)
      this.port.postMessage({ kind: "release", id: lent.id } satisfies ToMain);
  }

  private ask(question: { page: "landing" } | { page: "checks"; lang: string }): Promise<unknown> {
    const id = this.nextAsk++;
    return new Promise((resolve, reject) => {
      // A main thread that does not answer: a 500 rather than a request held open for ever.
      const timer = setTimeout(() => {
        this.asked.delete(id);
        reject(new Error("the main thread did not answer"));
      }, this.settings.aliveWithinMs ?? defaultAliveWithinMs);
      this.asked.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      this.port.postMessage({ kind: "ask", id, ...question } satisfies ToMain);
    });
  }

  private receive(message: ToWorker): void {
    this.heardAt = Date.now();
    if (message.kind === "alive") return;
    if (message.kind === "body") {
      const before = this.current;
      this.current = {
        id: message.id,
        contentType: message.contentType,
        parts: message.parts.map((p) => Buffer.from(p.buffer, p.offset, p.length)),
        writers: 0,
        superseded: false,
      };
      this.firstBody.resolve();
      if (before) {
        before.superseded = true;
        this.releaseIfDone(before);
      }
    } else if (message.kind === "answer") {
      const asked = this.asked.get(message.id);
      this.asked.delete(message.id);
      if (message.failed) asked?.reject(new Error(String(message.value)));
      else asked?.resolve(message.value);
    } else {
      void this.server.stop().then(() => {
        this.port.postMessage({ kind: "stopped" } satisfies ToMain);
        this.port.close();
      });
    }
  }
}

/** Log lines go to the main thread's logger: pino loaded a second time costs ~4 MiB of RSS. */
function logTo(port: MessagePort, debug: boolean): HttpLog {
  const line = (level: "debug" | "info" | "error", fields: object, message: string): void => {
    try {
      port.postMessage({ kind: "log", level, fields, message } satisfies ToMain);
    } catch {
      // Something in the fields that cannot be cloned: the line without them.
      port.postMessage({ kind: "log", level, fields: {}, message } satisfies ToMain);
    }
  };
  return {
    debug: (fields, message) => {
      if (debug) line("debug", fields, message);
    },
    info: (fields, message) => line("info", fields, message),
    error: (fields, message) => line("error", fields, message),
  };
}

async function serve(port: MessagePort, settings: WorkerSettings): Promise<void> {
  try {
    const log = logTo(port, settings.logLevel === "debug");
    // Loaded here as main.ts loads it: only with a web config (YAML, TLS, bcrypt).
    const webConfig = settings.webConfigFile
      ? new (await import("./web-config-source.js")).WebConfigSource(settings.webConfigFile, log)
      : undefined;
    const worker = new ServeWorker(port, settings, log, webConfig);
    const address = await worker.start();
    port.postMessage({ kind: "listening", address } satisfies ToMain);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    port.postMessage({
      kind: "failed",
      message,
      listen: err instanceof ListenError,
    } satisfies ToMain);
    port.close();
  }
}

if (!isMainThread && parentPort) void serve(parentPort, workerData as WorkerSettings);
