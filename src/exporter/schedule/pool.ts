/** Users whose collectors run at the same time within a cycle. */
const usersAtOnce = 8;
/** A user still running after this is left to finish while their worker takes the next user. */
const handOffMs = 100;
/** At most this many users left running at once; past it, a worker waits for one to end. */
const usersLeftAtOnce = 64;

/** A user's runs once started (run.ts's RunGroup): whether they all ended, and when they do. */
export interface UserRuns {
  readonly over: boolean;
  ended(): Promise<void>;
}

/** The event loop let in: resolves on its next check phase. */
const nextTurn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Runs `run` for each queued user, a few at a time, and ends when every run has. A run must
 * record its own failures and never reject. `current` says whether a user is still the one
 * queued (a newer cycle may have retired or replaced them).
 */
export async function eachUser<T>(
  queue: [string, T][],
  current: (key: string, item: T) => boolean,
  run: (key: string, item: T) => UserRuns,
): Promise<void> {
  // A few users at a time, each with all its collectors at once, and the event loop let in
  // between users: a cycle of 1,000 users run all at once resolved as one chain of microtasks
  // that kept scrapes waiting for seconds. A user whose runs are still going after handOffMs
  // (waiting on a socket: a hung dockerd costs two rpc timeouts) is left to finish and record
  // on their own, and the worker takes the next user: nine hung users held all eight workers
  // and kept everyone behind them waiting. Users left running are bounded in number.
  const left = new Set<Promise<void>>();
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const [key, item] = next;
      if (!current(key, item)) continue;
      const runs = run(key, item);
      // The event loop let in; a user whose runs waited on nothing (most users of a host: their
      // inputs unchanged, their answers in the cycle's memos) has ended meanwhile, and needs no
      // hand-off timer nor a promise of its end.
      await nextTurn();
      if (runs.over) continue;
      const user = runs.ended();
      let timer: NodeJS.Timeout | undefined;
      const slow = await Promise.race([
        user.then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), handOffMs))),
      ]);
      clearTimeout(timer);
      if (slow) {
        const gone = (): void => void left.delete(ends);
        const ends: Promise<void> = user.then(gone, gone);
        left.add(ends);
        while (left.size >= usersLeftAtOnce) await Promise.race(left);
      }
      await nextTurn();
    }
  };
  // Counted first: each worker takes its first user from the queue as it starts.
  const workers = Math.min(usersAtOnce, queue.length);
  const runs: Promise<void>[] = [];
  for (let i = 0; i < workers; i++) runs.push(worker());
  await Promise.all(runs);
  // The cycle (and `check`) ends when every user's runs have.
  while (left.size > 0) await Promise.all(left);
}
