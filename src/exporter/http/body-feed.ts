/**
 * Hands the renderer's latest body to a serving thread as soon as it changes: the renderer says
 * nothing when a rendering ends, so after something that leads to one (a collector's change, a
 * scrape that finds the process metrics stale) the body is looked at every `pollMs` for a while.
 * A look is an identity check (publish() ignores the body it already has).
 */
export class BodyFeed {
  private timer: NodeJS.Timeout | undefined;
  private until = 0;

  constructor(
    private readonly body: () => readonly Buffer[] | Promise<readonly Buffer[]>,
    private readonly publish: (parts: readonly Buffer[]) => void,
    private readonly pollMs = 20,
  ) {}

  /** Looks now, and every pollMs for the next `forMs`. */
  watch(forMs: number): void {
    this.until = Math.max(this.until, Date.now() + forMs);
    this.look();
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.look();
      if (Date.now() > this.until) this.stop();
    }, this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private look(): void {
    const body = this.body();
    if (body instanceof Promise) void body.then((parts) => this.publish(parts));
    else this.publish(body);
  }
}
