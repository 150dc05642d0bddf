/**
 * Runs `steps` to its end, letting the event loop in whenever `sliceMs` of synchronous work has
 * passed since it last did: a scrape arriving meanwhile waits at most about one slice (plus the
 * step that crossed it), never the whole rendering. A step is a `yield` of the generator; each
 * should be small (a user, a few hundred series or parts), as the clock is read between steps.
 */
export async function inSlices<T>(steps: Generator<void, T>, sliceMs: number): Promise<T> {
  let since = performance.now();
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    if (performance.now() - since < sliceMs) continue;
    await new Promise((resolve) => setImmediate(resolve));
    since = performance.now();
  }
}

/** Steps run at once, for callers that want the result now (tests, `check`). */
export function atOnce<T>(steps: Generator<void, T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** How many items of a tight loop (series, parts) make one step: reading the clock costs too. */
export const itemsPerStep = 256;
