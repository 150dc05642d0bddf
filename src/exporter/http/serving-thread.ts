import type { AddressInfo } from "node:net";
import { Worker } from "node:worker_threads";
import type { LevelWithSilent } from "pino";
import type { HttpLog } from "./http-log.js";
import type { ListenAddress } from "../../config.js";
import { ListenError } from "./server.js";
import type { ServerOptions } from "./server.js";

/** What the worker is started with (structured-cloned). */
export interface WorkerSettings {
  readonly listen: ListenAddress;
  readonly telemetryPath: string;
  readonly contentType: string;
  readonly maxConnections: number;
  readonly maxRequests: number;
  readonly webConfigFile: string | undefined;
  readonly logLevel: LevelWithSilent;
  readonly timeouts?: ServerOptions["timeouts"];
  /** /metrics and /healthz are 503 when the main thread was not heard from for this long. */
  readonly aliveWithinMs?: number;
}

/** The main thread's silence after which the worker stops vouching for it (30 s). */
export const defaultAliveWithinMs = 30_000;

/** A body in shared memory: the worker reads it in place, nothing is copied per scrape. */
interface SharedPart {
  readonly buffer: SharedArrayBuffer;
  readonly offset: number;
  readonly length: number;
}

export type ToWorker =
  | { kind: "body"; id: number; contentType: string; parts: readonly SharedPart[] }
  | { kind: "answer"; id: number; value: unknown; failed: boolean }
  | { kind: "alive" }
  | { kind: "stop" };
export type ToMain =
  | { kind: "listening"; address: AddressInfo }
  | { kind: "failed"; message: string; listen: boolean }
  | { kind: "scraped" }
  | { kind: "release"; id: number }
  | { kind: "ask"; id: number; page: "landing" }
  | { kind: "ask"; id: number; page: "checks"; lang: string }
  | { kind: "log"; level: "debug" | "info" | "error"; fields: object; message: string }
  | { kind: "stopped" };

/** What the main thread answers the worker with. */
export interface MainPages {
  readonly landing: () => string;
  readonly checks: (lang: string) => string;
  /** A scrape was answered: a stale rendering may be scheduled, a newer body published. */
  readonly scraped: () => void;
}

const stopGraceMs = 3000;
const workerYoungGenerationMb = 4;

/**
 * The HTTP server on a worker thread of its own (serve-worker.ts), the main thread collecting and
 * rendering: a scrape is answered from the last published body whatever the main thread is doing
 * (a cycle's slices, a major GC of a heap of hundreds of MiB). publish() copies a body into a
 * shared buffer once; the worker gives a buffer back when no answer writes it any more, and the
 * next body reuses it, so two copies at most exist beside the renderer's (docs/performance.md).
 */
export class ServingThread {
  private worker: Worker | undefined;
  private published: readonly Buffer[] | undefined;
  private nextId = 0;
  private readonly lent = new Map<number, SharedArrayBuffer>();
  private spare: SharedArrayBuffer | undefined;
  private stopped: Promise<void> | undefined;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(
    private readonly pages: MainPages,
    private readonly log: HttpLog,
    private readonly settings: WorkerSettings,
    /** The worker's module: dist/exporter/http/serve-worker.js beside this one by default. */
    private readonly entry: URL = new URL("./serve-worker.js", import.meta.url),
  ) {}

  /** Starts the worker and resolves once it listens; rejects with a ListenError if it cannot. */
  async start(): Promise<AddressInfo> {
    const worker = new Worker(this.entry, {
      workerData: this.settings,
      // Its own young generation stays small: V8's growth flag is the process's, set for the
      // main heap (heap.ts), and the worker's garbage is a few objects per request.
      resourceLimits: { maxYoungGenerationSizeMb: workerYoungGenerationMb },
    });
    this.worker = worker;
    const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
    this.stopped = exited;
    let listening = false;
    return new Promise((resolve, reject) => {
      worker.on("error", (err) => {
        this.log.error({ err }, "HTTP worker failed");
        reject(err);
      });
      void exited.then(() => {
        reject(new Error("the HTTP worker exited before it listened"));
        // Nothing would answer any more: the process ends, as an uncaught exception on the main
        // thread ends it, and its supervisor starts it again.
        if (listening && this.worker === worker) process.exit(1);
      });
      worker.on("message", (message: ToMain) => {
        if (message.kind === "listening") {
          listening = true;
          // The main thread says it is alive between bodies: a hung one is not vouched for.
          const every = (this.settings.aliveWithinMs ?? defaultAliveWithinMs) / 6;
          this.heartbeat = setInterval(() => this.post({ kind: "alive" }), every);
          this.heartbeat.unref();
          resolve(message.address);
        } else if (message.kind === "failed")
          reject(message.listen ? new ListenError(message.message) : new Error(message.message));
        else this.receive(message);
      });
    });
  }

  /** The latest rendering: copied into shared memory once when it changed, then served. */
  publish(contentType: string, parts: readonly Buffer[]): void {
    const worker = this.worker;
    if (!worker || parts === this.published) return;
    this.published = parts;
    const id = this.nextId++;
    const length = parts.reduce((sum, part) => sum + part.length, 0);
    const shared = this.bufferFor(length);
    const into = Buffer.from(shared);
    let offset = 0;
    for (const part of parts) {
      into.set(part, offset);
      offset += part.length;
    }
    this.lent.set(id, shared);
    const message: ToWorker = {
      kind: "body",
      id,
      contentType,
      parts: [{ buffer: shared, offset: 0, length }],
    };
    worker.postMessage(message);
  }

  /** Stops the worker's server (it drains as ExporterServer.stop does), then the worker. */
  async stop(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    clearInterval(this.heartbeat);
    worker.postMessage({ kind: "stop" } satisfies ToWorker);
    const force = setTimeout(() => void worker.terminate(), stopGraceMs);
    await this.stopped;
    clearTimeout(force);
    this.lent.clear();
    this.spare = undefined;
  }

  private post(message: ToWorker): void {
    this.worker?.postMessage(message);
  }

  /** The spare buffer when it fits without wasting half of it, else a new one with room to grow. */
  private bufferFor(length: number): SharedArrayBuffer {
    const spare = this.spare;
    this.spare = undefined;
    if (spare && spare.byteLength >= length && spare.byteLength <= 2 * length + 4096) return spare;
    return new SharedArrayBuffer(Math.max(1, Math.ceil(length * 1.125)));
  }

  private receive(message: ToMain): void {
    const worker = this.worker;
    if (message.kind === "log") {
      this.log[message.level](message.fields, message.message);
    } else if (message.kind === "release") {
      const shared = this.lent.get(message.id);
      this.lent.delete(message.id);
      if (shared) this.spare = shared;
    } else if (message.kind === "scraped") {
      this.pages.scraped();
    } else if (message.kind === "ask" && worker) {
      let value: unknown;
      let failed = false;
      try {
        value = message.page === "landing" ? this.pages.landing() : this.pages.checks(message.lang);
      } catch (err) {
        // The worker answers 500 and logs it, as a route failing on the main thread would.
        value = err instanceof Error ? err.message : String(err);
        failed = true;
      }
      worker.postMessage({ kind: "answer", id: message.id, value, failed } satisfies ToWorker);
    }
  }
}
