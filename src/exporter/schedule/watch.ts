import type { Logger } from "pino";
import type { FactsByCollector } from "../../collectors/registry.js";
import { HostState } from "../../collectors/state.js";
import type { Config } from "../../config.js";
import type { Finding } from "../../checks/finding.js";
import { evaluateHostChecks } from "../../checks/registry.js";
import type { UserFindings } from "../render/findings.js";
import { findingsFor } from "../render/findings.js";
import type { BuildInfo, SamplesInput } from "../render/samples.js";
import type { CollectorSet } from "./scheduler.js";
import type { TriggerFactory } from "./trigger.js";
import { Scheduler } from "./scheduler.js";
import { Targets } from "../../targets/targets.js";

/**
 * What the exporter watches and what it knows: the targets, the host state and the scheduler,
 * built from a configuration in one place for the serving daemon and the `check` command.
 */
export class Watch {
  private constructor(
    readonly scheduler: Scheduler<FactsByCollector>,
    private readonly host: HostState,
    readonly mode: Targets["mode"]["kind"],
  ) {}

  static async create(options: {
    readonly config: Config;
    readonly collectors: CollectorSet<FactsByCollector>;
    readonly env: NodeJS.ProcessEnv;
    readonly log: Logger;
    readonly trigger?: TriggerFactory;
    readonly onChange?: () => void;
  }): Promise<Watch> {
    const { config } = options;
    // One mount table for the exporter's life: every host/ read asks it whether it may block.
    const host = new HostState();
    const targets = await Targets.create(
      config.roots,
      { users: config.targetUsers, exclude: config.targetExclude, minUid: config.targetMinUid },
      options.env,
      undefined,
      host.mounts,
    );
    const scheduler = new Scheduler<FactsByCollector>({
      collectors: options.collectors,
      settings: config.collectors,
      roots: config.roots,
      targets,
      host,
      timeoutMs: config.timeoutMs,
      rpcTimeoutMs: config.rpcTimeoutMs,
      ...(config.reuseMaxAgeMs !== undefined && { reuseMaxAgeMs: config.reuseMaxAgeMs }),
      collectorOptions: config.collectorOptions,
      env: options.env,
      log: options.log,
      selfUid: process.getuid?.(),
      ...(options.trigger && { trigger: options.trigger }),
      ...(options.onChange && { onChange: options.onChange }),
    });
    return new Watch(scheduler, host, targets.mode.kind);
  }

  /** Every watched user's findings, on the latest facts. */
  findings(): UserFindings[] {
    return this.scheduler.targetViews().map((view) => ({
      user: view.target.name,
      uid: view.target.uid,
      findings: findingsFor(view),
      errors: view.errors,
    }));
  }

  /**
   * The host checks on the host's facts, once every host collector has reported: with nobody
   * watched (host mode on a host where no user has rootless Docker) they are all there is to say.
   */
  hostFindings(): Finding[] | undefined {
    return this.scheduler.hostComplete()
      ? evaluateHostChecks(this.scheduler.hostFacts())
      : undefined;
  }

  /**
   * snapshot in small steps (MetricsRenderer runs them in slices): each user's view is taken at
   * one moment, and a run that ends between two steps shows in the users after it.
   */
  *snapshotSteps(build: BuildInfo): Generator<void, SamplesInput> {
    const { collectors, views, userRuns } = yield* this.scheduler.snapshotSteps();
    return {
      collectors,
      views,
      host: this.scheduler.hostFacts(),
      hostFindings: this.hostFindings(),
      userRuns,
      mode: this.mode,
      build,
    };
  }

  /** What the latest snapshot's series are made of (MetricsRenderer renders them). */
  snapshot(build: BuildInfo): SamplesInput {
    return {
      collectors: this.scheduler.collectorStates(),
      views: this.scheduler.targetViews(),
      host: this.scheduler.hostFacts(),
      hostFindings: this.hostFindings(),
      userRuns: this.scheduler.userRuns(),
      mode: this.mode,
      build,
    };
  }

  async stop(): Promise<void> {
    await this.scheduler.stop();
    this.host.stop();
  }
}
