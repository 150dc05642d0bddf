import { pino } from "pino";
import type { Lang } from "./checks/finding.js";
import { exitCode } from "./checks/registry.js";
import type { Collector } from "./collectors/collector.js";
import type { Config } from "./config.js";
import { findingsFrom, findingsJson } from "./exporter/findings.js";
import { renderReport } from "./exporter/report.js";
import { schedulerFor } from "./exporter/scheduler.js";
import { loadTarget } from "./host/target.js";

/**
 * `rootless-exporter check`: every collector once, then the findings as a report or JSON. The exit
 * code follows the Nagios plugin convention so Icinga, Sensu or cron can use it as it is.
 */
export async function runCheck(options: {
  readonly config: Config;
  readonly collectors: readonly Collector<unknown>[];
  readonly json: boolean;
  readonly lang: Lang;
  readonly env: NodeJS.ProcessEnv;
  readonly out: NodeJS.WritableStream & { isTTY?: boolean };
}): Promise<number> {
  const { config } = options;
  const target = await loadTarget(config.roots, config.targetUser, options.env);
  const scheduler = schedulerFor(config, {
    collectors: options.collectors,
    target,
    env: options.env,
    log: pino({ level: config.logLevel === "debug" ? "debug" : "error" }, pino.destination(2)),
    trigger: () => ({ stop: () => undefined }),
  });
  await scheduler.runAll();
  await scheduler.stop();
  const states = scheduler.states();
  const findings = findingsFrom(states, target);
  if (options.json) {
    options.out.write(
      `${JSON.stringify(findingsJson(findings, options.lang, target.name, new Date()), null, 2)}\n`,
    );
  } else {
    const collectorErrors = states
      .filter((s) => s.ok === false)
      .map((s) => `${s.name}: ${s.error ?? ""}`);
    const colour = options.out.isTTY === true && !("NO_COLOR" in options.env);
    options.out.write(
      renderReport({
        findings,
        user: target.name,
        uid: target.uid,
        lang: options.lang,
        colour,
        collectorErrors,
      }),
    );
  }
  return exitCode(findings);
}
