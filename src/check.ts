import { pino } from "pino";
import type { Lang } from "./checks/finding.js";
import { exitCode } from "./checks/registry.js";
import type { FactsByCollector } from "./collectors/registry.js";
import type { Config } from "./config.js";
import { checksJsonText, findingsJson, worstFirst } from "./exporter/render/findings.js";
import { renderReport } from "./exporter/render/report.js";
import type { CollectorSet } from "./exporter/schedule/scheduler.js";
import { Watch } from "./exporter/schedule/watch.js";

/**
 * `rootless-exporter check`: every collector once, then each watched user's findings as a report
 * or JSON. The exit code follows the Nagios plugin convention so Icinga, Sensu or cron can use it
 * as it is: the worst of the users' codes (2 critical, 1 warning, 3 unknown, 0 all well).
 */
export async function runCheck(options: {
  readonly config: Config;
  readonly collectors: CollectorSet<FactsByCollector>;
  readonly json: boolean;
  readonly lang: Lang;
  readonly env: NodeJS.ProcessEnv;
  readonly out: NodeJS.WritableStream & { isTTY?: boolean };
}): Promise<number> {
  const { config } = options;
  const fail = (message: string): number => {
    process.stderr.write(`rootless-exporter check: ${message}\n`);
    return 3;
  };
  const watch = await Watch.create({
    config,
    collectors: options.collectors,
    env: options.env,
    log: pino({ level: config.logLevel === "debug" ? "debug" : "error" }, pino.destination(2)),
    trigger: () => ({ stop: () => undefined }),
  });
  await watch.scheduler.runAll();
  const unresolved = watch.scheduler.resolveError;
  const users = worstFirst(watch.findings());
  const hostFindings = watch.hostFindings() ?? [];
  await watch.stop();
  // Nothing checked is no "all is well": Nagios's UNKNOWN.
  if (unresolved !== undefined) return fail(`cannot tell whom to watch: ${unresolved}`);
  if (watch.mode === "listed" && users.length === 0)
    return fail("none of the users named by --target.user exists any more");
  if (options.json) {
    options.out.write(checksJsonText(findingsJson(users, options.lang, new Date(), hostFindings)));
  } else {
    const colour = options.out.isTTY === true && !("NO_COLOR" in options.env);
    if (users.length === 0) {
      // Nobody to watch: what the host itself lacks is still worth saying.
      options.out.write(noUsers[options.lang]);
      options.out.write(
        renderReport({
          findings: hostFindings,
          user: undefined,
          uid: undefined,
          lang: options.lang,
          colour,
          collectorErrors: [],
        }),
      );
    }
    for (const user of users) {
      options.out.write(
        renderReport({
          findings: user.findings,
          user: user.user,
          uid: user.uid,
          lang: options.lang,
          colour,
          collectorErrors: user.errors,
        }),
      );
      if (users.length > 1) options.out.write("\n");
    }
  }
  const codes =
    users.length > 0 ? users.map((user) => exitCode(user.findings)) : [exitCode(hostFindings)];
  for (const code of [2, 1, 3] as const) if (codes.includes(code)) return code;
  return 0;
}

const noUsers: Record<Lang, string> = {
  en: "rootless-exporter check: no user to watch (host mode found no user with subordinate IDs, linger, a /run/user directory or a running rootlesskit)\n",
  "zh-CN":
    "rootless-exporter check：没有可监视的用户（主机模式下未找到拥有从属 ID、linger、/run/user 目录或正在运行的 rootlesskit 的用户）\n",
};
