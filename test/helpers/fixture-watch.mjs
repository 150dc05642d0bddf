// What test/helpers/idle-heap.mjs and kept-shapes.mjs share: a host-mode Watch of a built
// checkout (`root`: its dist/ and bench/host-fixture.mjs, so either script measures any build)
// over a host of `users` idle users generated in a new temporary directory, run `cycles` times.
// Returns { watch, done }: `done` removes the directory (the Watch is the caller's to stop).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";

export async function watchOver(root, users, cycles, prefix) {
  const { generateHost } = await import(join(root, "bench/host-fixture.mjs"));
  const dist = (path) => import(join(root, "dist", path));
  const [{ parseCommandLine }, { collectorList, collectors }, { Watch }] = await Promise.all([
    dist("cli.js"),
    dist("collectors/registry.js"),
    dist("exporter/schedule/watch.js"),
  ]);
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const done = () => rmSync(dir, { recursive: true, force: true });
  try {
    const { roots } = generateHost(dir, users, 0);
    const flags = [
      `--path.procfs=${roots.procfs}`,
      `--path.sysfs=${roots.sysfs}`,
      `--path.rootfs=${roots.rootfs}`,
    ];
    const { config } = parseCommandLine(flags, {}, collectorList);
    const watch = await Watch.create({
      config,
      collectors,
      env: {},
      log: pino({ level: "silent" }),
      trigger: () => ({ stop() {} }),
    });
    for (let i = 0; i < cycles; i++) await watch.scheduler.runAll();
    return { watch, done };
  } catch (err) {
    done();
    throw err;
  }
}
