// Run by test/e2e/memory.test.ts with --allow-natives-syntax: whether what the docker and
// rootlesskit collectors keep per user (their static parts) shares hidden classes across users.
// A spread copy (`{ ...part, configured }`) got a map of its own per object (~19,000 maps with
// their descriptors at 10,000 users, docs/performance.md "heap2").
// Prints {"users": n, "docker": [objects, distinct maps], "rootlesskit": [...], "bases": [...]}
// argv: <root of a built checkout> <users>
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";

const [root, users] = [process.argv[2], Number(process.argv[3])];
const { generateHost } = await import(join(root, "bench/host-fixture.mjs"));
const dist = (path) => import(join(root, "dist", path));
const [{ parseCommandLine }, { collectorList, collectors }, { Watch }] = await Promise.all([
  dist("cli.js"),
  dist("collectors/registry.js"),
  dist("exporter/schedule/watch.js"),
]);
const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-kept-shapes-"));
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
  for (let i = 0; i < 2; i++) await watch.scheduler.runAll();
  // The kept values of each watched user, found by their names (kept("docker.static", ...)).
  const parts = { docker: [], rootlesskit: [], bases: [] };
  for (const { state } of watch.scheduler.roster.watched.values())
    for (const [slot, value] of state.kept.values) {
      const part = value?.part;
      if (part === undefined) continue;
      if (slot.name === "docker.static") parts.docker.push(part);
      if (slot.name === "rootlesskit.static") parts.rootlesskit.push(part);
      if (slot.name === "rootlesskit.static") parts.bases.push(part.base);
    }
  // Compiled at run time: a linter cannot parse V8's natives syntax.
  const sameMap = new Function("a", "b", "return %HaveSameMap(a, b)");
  const distinct = (objects) => {
    const kinds = [];
    for (const o of objects) if (!kinds.some((k) => sameMap(k, o))) kinds.push(o);
    return [objects.length, kinds.length];
  };
  await watch.stop();
  console.log(
    JSON.stringify({
      users,
      docker: distinct(parts.docker),
      rootlesskit: distinct(parts.rootlesskit),
      bases: distinct(parts.bases),
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
