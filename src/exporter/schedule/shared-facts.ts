import { sameFacts } from "./same-facts.js";

/** How many distinct facts values one collector's table remembers. */
const remembered = 8;

/**
 * One collector's recently recorded facts, so users whose facts are equal share one object (issue
 * 19, docs/performance.md#memory): most users of a big host have nothing running, and their
 * subid, linger, rootlesskit and network facts are the same value (at 10,000 users the subid
 * collector's copies alone were ~20 MiB). Facts are never changed in place (docs/architecture.md),
 * so an object stands for its value wherever it is served; a rendering keyed by that object
 * renders the same bytes for any user whose facts it is.
 *
 * The few values kept are the last ones met (a hit moves to the front): the idle users' value is
 * met every few records and stays, a live user's facts pass through. Equal is sameFacts's equal:
 * a Map, a Date or a class instance only when it is the same object, so facts holding one are
 * never shared by value.
 */
export class SharedFacts<F> {
  private readonly recent: F[] = [];

  /** The object to keep for `facts`: an equal one recorded before, or `facts` itself. */
  share(facts: F): F {
    const found = this.recent.findIndex((known) => sameFacts(known, facts));
    if (found === 0) return this.recent[0] as F;
    if (found > 0) {
      const [known] = this.recent.splice(found, 1) as [F];
      this.recent.unshift(known);
      return known;
    }
    this.recent.unshift(facts);
    if (this.recent.length > remembered) this.recent.pop();
    return facts;
  }
}
