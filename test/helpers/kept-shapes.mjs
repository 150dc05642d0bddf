// Run by test/e2e/memory.test.ts with --allow-natives-syntax: whether what the docker and
// rootlesskit collectors keep per user (their static parts) shares hidden classes across users.
// A spread copy (`{ ...part, configured }`) got a map of its own per object (~19,000 maps with
// their descriptors at 10,000 users, docs/performance.md "heap2").
// Prints {"users": n, "docker": [objects, distinct maps], "rootlesskit": [...], "bases": [...]}
// argv: <root of a built checkout> <users>
import { watchOver } from "./fixture-watch.mjs";

const [root, users] = [process.argv[2], Number(process.argv[3])];
const { watch, done } = await watchOver(root, users, 2, "rootless-exporter-kept-shapes-");
try {
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
  done();
}
