// What bench/host-profile.mjs, steady-ab.mjs and steady-calls.mjs share: a built checkout's
// modules (`loadBuild(root)`, imported when called, so a bench can patch node:fs first) and a
// host-mode Watch of them over a generated host's roots, run twice so its next cycles are
// steady (`steadyWatch`: the second cycle takes the live users' keys). The Watch is the caller's
// to stop.
import { join } from "node:path";
import { pino } from "pino";

export async function loadBuild(root) {
  const dist = (path) => import(join(root, "dist", path));
  const [{ parseCommandLine }, { collectorList, collectors }, { Watch }] = await Promise.all([
    dist("cli.js"),
    dist("collectors/registry.js"),
    dist("exporter/schedule/watch.js"),
  ]);
  return { parseCommandLine, collectorList, collectors, Watch };
}

export async function steadyWatch(build, hostRoots, flags = []) {
  const command = build.parseCommandLine(
    [
      `--path.procfs=${hostRoots.procfs}`,
      `--path.sysfs=${hostRoots.sysfs}`,
      `--path.rootfs=${hostRoots.rootfs}`,
      "--collect.rpc-timeout=200ms",
      ...flags,
    ],
    {},
    build.collectorList,
  );
  const watch = await build.Watch.create({
    config: command.config,
    collectors: build.collectors,
    env: {},
    log: pino({ level: "silent" }),
    trigger: () => ({ stop() {} }),
  });
  await watch.scheduler.runAll();
  await watch.scheduler.runAll();
  return watch;
}
