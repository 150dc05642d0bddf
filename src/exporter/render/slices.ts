/**
 * Runs `steps` to its end, letting the event loop in whenever `sliceMs` of synchronous work has
 * passed since it last did: a scrape arriving meanwhile waits at most about one slice (plus the
 * step that crossed it), never the whole rendering. A step is a `yield` of the generator; each
 * should be small (a user, a few hundred series or parts), as the clock is read between steps.
 */
export async function inSlices<T>(
  steps: Generator<void, T>,
  sliceMs: number,
  /** Given the synchronous time spent, the slices' sum (what the work cost the event loop). */
  spent?: (ms: number) => void,
): Promise<T> {
  let since = performance.now();
  let busy = 0;
  try {
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value;
      const now = performance.now();
      if (now - since < sliceMs) continue;
      busy += now - since;
      await new Promise((resolve) => setImmediate(resolve));
      since = performance.now();
    }
  } finally {
    spent?.(busy + performance.now() - since);
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
