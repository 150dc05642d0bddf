// Run by test/e2e/memory.test.ts with --expose-gc: the live heap a host-mode Watch keeps per idle
// user, on bench/host-fixture.mjs's generated host (nobody live: no chown, root not needed).
// Prints {"bytesPerUser": ...}: the heap after a full GC with a second Watch of `many` users, less
// the heap with the first one (of `few`, which warms the code up), over `many`.
// argv: <root of a built checkout> <few> <many>
import { watchOver } from "./fixture-watch.mjs";

const [root, few, many] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];

/** The live heap with a Watch over `users` idle users after three cycles, and the Watch. */
async function heapWith(users) {
  const { watch, done } = await watchOver(root, users, 3, "rootless-exporter-idle-heap-");
  try {
    globalThis.gc();
    globalThis.gc();
    const used = process.memoryUsage().heapUsed;
    const watched = watch.scheduler.targets().length;
    return { used, watched, watch };
  } finally {
    done();
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
