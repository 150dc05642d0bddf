import cron from "node-cron";
import { cronForInterval } from "./intervals.js";

/** Something that calls `fire` every `intervalSeconds` until stopped. */
export interface Trigger {
  stop(): void;
}
export type TriggerFactory = (intervalSeconds: number, name: string, fire: () => void) => Trigger;

/** node-cron, aligned to the clock: a 15s interval fires at :00, :15, :30, :45. */
export const cronTrigger: TriggerFactory = (intervalSeconds, name, fire) => {
  const expression = cronForInterval(intervalSeconds);
  if (!expression) throw new Error(`interval ${intervalSeconds}s cannot be scheduled`);
  const task = cron.schedule(expression, fire, { name, noOverlap: true });
  return { stop: () => void task.destroy() };
};
