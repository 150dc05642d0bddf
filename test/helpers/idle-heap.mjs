// Run by test/e2e/memory.test.ts with --expose-gc: the live heap a host-mode Watch keeps per idle
// user, on bench/host-fixture.mjs's generated host (nobody live: no chown, root not needed).
// Prints {"bytesPerUser": ...}: the heap after a full GC with a second Watch of `many` users, less
// the heap with the first one (of `few`, which warms the code up), over `many`.
// argv: <root of a built checkout> <few> <many>
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";

const [root, few, many] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const { generateHost } = await import(join(root, "bench/host-fixture.mjs"));
const dist = (path) => import(join(root, "dist", path));
const [{ parseCommandLine }, { collectorList, collectors }, { Watch }] = await Promise.all([
  dist("cli.js"),
  dist("collectors/registry.js"),
  dist("exporter/schedule/watch.js"),
]);

/** The live heap with a Watch over `users` idle users after three cycles, and the Watch. */
async function heapWith(users) {
  const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-idle-heap-"));
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
    for (let i = 0; i < 3; i++) await watch.scheduler.runAll();
    globalThis.gc();
    globalThis.gc();
    const used = process.memoryUsage().heapUsed;
    const watched = watch.scheduler.targets().length;
    return { used, watched, watch };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// The first Watch kept alive while the second is measured: the difference is the second one's users.
const small = await heapWith(few);
const large = await heapWith(many);
await large.watch.stop();
await small.watch.stop();
console.log(
  JSON.stringify({
    bytesPerUser: (large.used - small.used) / many,
    watched: [small.watched, large.watched],
  }),
);
