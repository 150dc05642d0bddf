import cron from "node-cron";
import type { Logger } from "pino";
import type { Collector } from "../collectors/collector.js";
import type { CollectorSetting, Config } from "../config.js";
import type { HostRoots } from "../host/paths.js";
import type { Target } from "../host/target.js";

/** The latest outcome of one collector, kept so /metrics never waits on a run. */
export interface CollectorState {
  readonly name: string;
  readonly intervalSeconds: number;
  /** Facts of the last run, present only when that run succeeded. */
  readonly facts: unknown;
  readonly ok: boolean | undefined;
  readonly error: string | undefined;
  readonly lastRunAt: number | undefined;
  readonly durationSeconds: number | undefined;
  readonly lastSuccessAt: number | undefined;
  readonly errorsTotal: number;
  readonly runs: number;
}

/** Something that calls `fire` every `intervalSeconds` until stopped. */
export interface Trigger {
  stop(): void;
}
export type TriggerFactory = (intervalSeconds: number, name: string, fire: () => void) => Trigger;

/**
 * The node-cron expression that fires every `seconds`, aligned to the clock. Cron can only express
 * intervals that divide a minute, an hour or a day; others are refused rather than drifting.
 */
export function cronForInterval(seconds: number): string | undefined {
  if (!Number.isInteger(seconds) || seconds < 1) return undefined;
  if (seconds < 60) return 60 % seconds === 0 ? `*/${seconds} * * * * *` : undefined;
  if (seconds % 60 !== 0) return undefined;
  const minutes = seconds / 60;
  if (minutes < 60) return 60 % minutes === 0 ? `0 */${minutes} * * * *` : undefined;
  if (minutes % 60 !== 0) return undefined;
  const hours = minutes / 60;
  if (hours === 24) return "0 0 0 * * *";
  return hours < 24 && 24 % hours === 0 ? `0 0 */${hours} * * *` : undefined;
}

/** node-cron, aligned to the clock: a 15s interval fires at :00, :15, :30, :45. */
export const cronTrigger: TriggerFactory = (intervalSeconds, name, fire) => {
  const expression = cronForInterval(intervalSeconds);
  if (!expression) throw new Error(`interval ${intervalSeconds}s cannot be scheduled`);
  const task = cron.schedule(expression, fire, { name: `collector-${name}`, noOverlap: true });
  return { stop: () => void task.destroy() };
};

export interface SchedulerOptions {
  readonly collectors: readonly Collector<unknown>[];
  readonly settings: readonly CollectorSetting[];
  readonly roots: HostRoots;
  readonly target: Target;
  readonly timeoutMs: number;
  readonly rpcTimeoutMs: number;
  readonly collectorOptions: Readonly<Record<string, string>>;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly log: Logger;
  readonly trigger?: TriggerFactory;
  /** Called after every run, so renderers can drop their cache. */
  readonly onChange?: () => void;
}

interface Slot {
  readonly collector: Collector<unknown>;
  readonly setting: CollectorSetting;
  state: CollectorState;
  /** The run in progress, also after it was abandoned for its timeout. */
  inflight: Promise<unknown> | undefined;
  controller: AbortController | undefined;
  notes: Set<string>;
}

class RunTimeout extends Error {}

/** The scheduler for a parsed configuration: the serving daemon's and the `check` command's. */
export function schedulerFor(
  config: Config,
  parts: Pick<SchedulerOptions, "collectors" | "target" | "env" | "log" | "trigger" | "onChange">,
): Scheduler {
  return new Scheduler({
    ...parts,
    settings: config.collectors,
    roots: config.roots,
    timeoutMs: config.timeoutMs,
    rpcTimeoutMs: config.rpcTimeoutMs,
    collectorOptions: config.collectorOptions,
  });
}

export class Scheduler {
  private readonly slots: Slot[];
  private triggers: Trigger[] = [];
  private stopped = false;

  constructor(private readonly options: SchedulerOptions) {
    this.slots = options.settings
      .filter((setting) => setting.enabled)
      .flatMap((setting) => {
        const collector = options.collectors.find((c) => c.name === setting.name);
        if (!collector) return [];
        return [
          {
            collector,
            setting,
            state: emptyState(setting),
            inflight: undefined,
            controller: undefined,
            notes: new Set<string>(),
          },
        ];
      });
  }

  /** Runs every collector now, then on its interval. */
  start(): void {
    const trigger = this.options.trigger ?? cronTrigger;
    this.stopped = false;
    for (const slot of this.slots) {
      void this.run(slot);
      this.triggers.push(
        trigger(slot.setting.intervalSeconds, slot.collector.name, () => void this.run(slot)),
      );
    }
  }

  /** Stops the triggers and aborts runs in progress; undoes everything start() did. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const trigger of this.triggers) trigger.stop();
    this.triggers = [];
    for (const slot of this.slots) {
      slot.controller?.abort();
      slot.collector.stop?.();
    }
  }

  /** Runs every enabled collector once and waits for all, for one-shot use (`check`). */
  async runAll(): Promise<void> {
    await Promise.all(this.slots.map((slot) => this.run(slot)));
  }

  states(): readonly CollectorState[] {
    return this.slots.map((slot) => slot.state);
  }

  private async run(slot: Slot): Promise<void> {
    const { collector } = slot;
    const log = this.options.log.child({ collector: collector.name });
    if (slot.inflight) {
      // The previous run is still going (or was abandoned and has not given up yet): never overlap.
      const error = slot.state.error ?? "previous run still in progress";
      log.debug("skipping run: previous run still in progress");
      if (slot.state.error !== undefined) this.record(slot, undefined, error, 0, log);
      return;
    }
    const controller = new AbortController();
    slot.controller = controller;
    const notes = new Set<string>();
    const started = performance.now();
    const work = collector.collect({
      roots: this.options.roots,
      target: this.options.target,
      signal: controller.signal,
      note: (message) => notes.add(message),
      info: (message, fields) => log.info(fields, message),
      env: this.options.env,
      rpcTimeoutMs: this.options.rpcTimeoutMs,
      option: (name) => this.option(collector, name),
    });
    slot.inflight = work;
    void work
      .catch(() => undefined)
      .finally(() => {
        if (slot.inflight === work) slot.inflight = undefined;
      });
    let timer: NodeJS.Timeout | undefined;
    const timeoutMs = Math.max(
      this.options.timeoutMs,
      collector.runTimeoutMs?.((name) => this.option(collector, name)) ?? 0,
    );
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RunTimeout()), timeoutMs);
    });
    try {
      const facts = await Promise.race([work, timeout]);
      this.logNotes(slot, notes, log);
      this.record(slot, facts, undefined, performance.now() - started, log);
    } catch (err) {
      const message =
        err instanceof RunTimeout
          ? `run abandoned after the ${timeoutMs} ms timeout`
          : err instanceof Error
            ? err.message
            : String(err);
      if (err instanceof RunTimeout) controller.abort();
      this.record(slot, undefined, message, performance.now() - started, log);
    } finally {
      clearTimeout(timer);
    }
  }

  /** A collector-declared option: its flag's value, or its default. */
  private option(collector: Collector<unknown>, name: string): string {
    const declared = collector.options?.find((o) => o.name === name);
    const flag = declared?.flag ?? `collector.${collector.name}.${name}`;
    return this.options.collectorOptions[flag] ?? declared?.defaultValue ?? "";
  }

  private logNotes(slot: Slot, notes: Set<string>, log: Logger): void {
    for (const note of notes) if (!slot.notes.has(note)) log.debug({ note }, "expected condition");
    slot.notes = notes;
  }

  private record(
    slot: Slot,
    facts: unknown,
    error: string | undefined,
    durationMs: number,
    log: Logger,
  ): void {
    if (this.stopped && error !== undefined) return;
    const previous = slot.state;
    const now = Date.now();
    const ok = error === undefined;
    if (!ok && error !== previous.error) log.warn({ err: error }, "collector failed");
    if (ok && previous.ok === false) log.info("collector recovered");
    slot.state = {
      ...previous,
      facts: ok ? facts : undefined,
      ok,
      error,
      lastRunAt: now,
      durationSeconds: durationMs / 1000,
      lastSuccessAt: ok ? now : previous.lastSuccessAt,
      errorsTotal: previous.errorsTotal + (ok ? 0 : 1),
      runs: previous.runs + 1,
    };
    this.options.onChange?.();
  }
}

function emptyState(setting: CollectorSetting): CollectorState {
  return {
    name: setting.name,
    intervalSeconds: setting.intervalSeconds,
    facts: undefined,
    ok: undefined,
    error: undefined,
    lastRunAt: undefined,
    durationSeconds: undefined,
    lastSuccessAt: undefined,
    errorsTotal: 0,
    runs: 0,
  };
}
