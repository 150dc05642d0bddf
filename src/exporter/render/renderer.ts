import type { Registry } from "prom-client";
import type { SampleSet } from "./sample-set.js";
import type { SamplesInput } from "./samples.js";
import type { SnapshotSource } from "./snapshot.js";
import { SnapshotRenderer } from "./snapshot.js";
import { release } from "./own-bytes.js";

/**
 * prom-client's gauges named like counters (`promtool check metrics`: "non-counter metrics should
 * not have _total suffix"). Each is the sum of the per-type gauge beside it: sum(nodejs_active_handles).
 */
export const droppedDefaults = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
] as const;

/** prom-client's Registry.PROMETHEUS_CONTENT_TYPE (a test keeps them equal). */
export const prometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

/**
 * prom-client's default metrics in a registry of their own. Imported only when the process metrics
 * are on: with --web.disable-exporter-metrics nothing else loads prom-client (docs/performance.md).
 */
async function processRegistry(): Promise<Registry> {
  const { Registry, collectDefaultMetrics } = await import("prom-client");
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const name of droppedDefaults) registry.removeSingleMetric(name);
  return registry;
}

/** Below this size the two parts of a rendering are served as one buffer. */
const joinBelowBytes = 1024 * 1024;

export interface MetricsRendererOptions {
  /**
   * The latest snapshot: the scheduler's states (rendered incrementally, see snapshot.ts), or
   * the steps that take them (run in the rendering's slices), or series already made (whole).
   */
  readonly samples: () => SnapshotSource | Promise<SamplesInput | SampleSet>;
  readonly exporterMetrics: boolean;
  /** How long process_* and nodejs_* figures are reused, so a scrape costs a buffer write (1 s). */
  readonly processMetricsMaxAgeMs?: number;
  /** Runs that end within this long of each other share one rendering (50 ms). */
  readonly coalesceMs?: number;
  /** The longest stretch of a rendering between two turns of the event loop (2 ms). */
  readonly sliceMs?: number;
  /**
   * Free the blocks a rendering replaced at once instead of at the next major GC (false): then
   * every body written after the turn of the event loop it was taken in must be taken through
   * serve() and its done() called, since a freed block has length 0 (own-bytes.ts; a block
   * written from one fails its rendering).
   */
  readonly release?: boolean;
}

/**
 * Renders the latest snapshot in the Prometheus text format and keeps it as buffers, so a scrape
 * costs a buffer write. The rootless_* part is rebuilt when a collector finishes (invalidate()),
 * the process part when it is older than a second; a scrape never waits for either once the
 * first rendering exists, it gets the last whole one while the next is made. A big host's two
 * parts are served side by side, never copied into one (36 MB at 10,000 users, every second).
 */
export class MetricsRenderer {
  readonly contentType = prometheusContentType;
  /** Started with the renderer, so the GC and event-loop figures count from the start. */
  private readonly processRegistry: Promise<Registry> | undefined;
  private readonly snapshots: SnapshotRenderer;
  private readonly processMetricsMaxAgeMs: number;
  private readonly coalesceMs: number;
  private current: readonly Buffer[] | undefined;
  /** render()'s one buffer of `current`, made when first asked for. */
  private joined: { of: readonly Buffer[]; body: Buffer } | undefined;
  /** The rootless_* part: one buffer per metric block at a big host (snapshot.ts). */
  private snapshot: readonly Buffer[] = [];
  /** Bumped by invalidate(); the snapshot is current when it was rendered at this generation. */
  private generation = 0;
  private renderedGeneration = -1;
  private process: Buffer = Buffer.alloc(0);
  private processAt = -Infinity;
  private rendering: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastCostMs = 0;
  private lastEndAt = 0;
  /** Bodies being written by answers (serve()), and how many answers write each. */
  private readonly holds = new Map<readonly Buffer[], number>();
  /** Blocks replaced by a rendering and still in a body an answer writes (release: true). */
  private retired: Buffer[] = [];

  constructor(private readonly options: MetricsRendererOptions) {
    this.processMetricsMaxAgeMs = options.processMetricsMaxAgeMs ?? 1000;
    this.coalesceMs = options.coalesceMs ?? 50;
    this.snapshots = new SnapshotRenderer(options.sliceMs);
    if (options.exporterMetrics) this.processRegistry = processRegistry();
  }

  /** Something changed: a new rendering follows, coalesced and paced (see schedule). */
  invalidate(): void {
    this.generation++;
    this.schedule();
  }

  /**
   * The latest rendering as the buffers to write one after the other, at once once one exists;
   * a stale one schedules the next.
   */
  body(): readonly Buffer[] | Promise<readonly Buffer[]> {
    if (!this.current) return this.refresh().then(() => this.current ?? []);
    if (this.stale()) this.schedule();
    return this.current;
  }

  /**
   * body() for an answer, and the call that says it is written out or abandoned: until then the
   * blocks of its body stay (a later rendering's replaced blocks are freed when none holds them).
   */
  serve(): { body: readonly Buffer[] | Promise<readonly Buffer[]>; done: () => void } {
    let held: readonly Buffer[] | undefined;
    let finished = false;
    const hold = (parts: readonly Buffer[]): readonly Buffer[] => {
      if (!finished) {
        held = parts;
        this.holds.set(parts, (this.holds.get(parts) ?? 0) + 1);
      }
      return parts;
    };
    const body = this.body();
    const done = (): void => {
      if (finished) return;
      finished = true;
      if (held === undefined) return;
      const left = (this.holds.get(held) ?? 1) - 1;
      if (left > 0) this.holds.set(held, left);
      else this.holds.delete(held);
      this.free();
    };
    return { body: body instanceof Promise ? body.then(hold) : hold(body), done };
  }

  /**
   * Frees the retired blocks no answer is writing (own-bytes.ts: release); a retired block is in
   * no body served from then on, so one that no answer holds is read by nothing any more.
   */
  private free(): void {
    if (this.retired.length === 0) return;
    const held = new Set<Buffer>();
    for (const parts of this.holds.keys()) for (const part of parts) held.add(part);
    const still: Buffer[] = [];
    for (const block of this.retired)
      if (held.has(block)) still.push(block);
      else release(block);
    this.retired = still;
  }

  /** body() in one buffer (tests, benches): the same object while the rendering is the same. */
  render(): Buffer | Promise<Buffer> {
    const parts = this.body();
    return parts instanceof Promise ? parts.then((p) => this.join(p)) : this.join(parts);
  }

  private join(parts: readonly Buffer[]): Buffer {
    if (parts.length === 1 && parts[0]) return parts[0];
    if (this.joined?.of !== parts) this.joined = { of: parts, body: Buffer.concat(parts) };
    return this.joined.body;
  }

  /** Drops a rendering that is scheduled and not started. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private stale(): boolean {
    const processStale =
      this.options.exporterMetrics && Date.now() - this.processAt > this.processMetricsMaxAgeMs;
    return this.renderedGeneration !== this.generation || processStale;
  }

  /**
   * Renders outside the caller's stack (a scrape is answered first), after a short pause that
   * gathers the runs ending together (one per user and collector), and never more than a
   * quarter of the time: a rendering of 10,000 users costs a second and more.
   */
  private schedule(): void {
    if (this.timer || this.rendering) return;
    const paced = this.lastEndAt + 3 * this.lastCostMs - Date.now();
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        void this.refresh();
      },
      Math.max(this.coalesceMs, paced),
    );
    this.timer.unref();
  }

  /** One rendering at a time; what went stale meanwhile is scheduled again. */
  private refresh(): Promise<void> {
    if (this.rendering) return this.rendering;
    const rendering = this.renderOnce();
    this.rendering = rendering;
    // Cleared only once the rendering is set: one that finished without awaiting anything would
    // otherwise clear it before it was set, and block every later rendering.
    return rendering.finally(() => {
      if (this.rendering === rendering) this.rendering = undefined;
      if (this.renderedGeneration !== this.generation) this.schedule();
    });
  }

  private async renderOnce(): Promise<void> {
    const started = performance.now();
    let replaced: Buffer[] = [];
    try {
      if (this.renderedGeneration !== this.generation) {
        const generation = this.generation;
        this.snapshot = await this.snapshots.renderParts(await this.options.samples());
        this.renderedGeneration = generation;
        replaced = this.snapshots.replaced;
      }
      if (this.processRegistry && Date.now() - this.processAt > this.processMetricsMaxAgeMs) {
        this.processAt = Date.now();
        this.process = Buffer.from(await (await this.processRegistry).metrics());
      }
      const parts =
        this.process.length === 0 ? [...this.snapshot] : [...this.snapshot, this.process];
      const length = parts.reduce((sum, part) => sum + part.length, 0);
      // A small body is copied into one once per rendering (a scrape is then one write, as
      // before); a big host's (36 MB at 10,000 users, every second) is served as its parts, the
      // blocks a rendering did not change the very buffers served before (never copied again).
      const current = parts.length > 1 && length <= joinBelowBytes ? [Buffer.concat(parts)] : parts;
      this.current = current;
      if (this.options.release) this.retired.push(...replaced);
      this.free();
    } finally {
      this.lastCostMs = performance.now() - started;
      this.lastEndAt = Date.now();
    }
  }
}
