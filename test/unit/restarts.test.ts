import { describe, expect, it } from "vitest";
import type { ProcessInfo } from "../../src/host/proc.js";
import { RestartCounter } from "../../src/collectors/restarts.js";

const process = (pid: number, startTicks: number): ProcessInfo => ({
  pid,
  stat: { pid, comm: "dockerd", state: "S", ppid: 1, cpuSeconds: 0, startTicks },
  status: { uids: [1000], nspids: [pid] },
  argv: [],
});

// issue 21: a dockerd that systemd brings back within 2 s looks healthy at every 15 s cycle.
describe("RestartCounter", () => {
  it.each<[string, (ProcessInfo | undefined)[], number]>([
    ["the first process seen is no restart", [process(10, 100)], 0],
    ["the same process cycle after cycle", [process(10, 100), process(10, 100)], 0],
    ["down, then nothing", [process(10, 100), undefined, undefined], 0],
    ["back between two cycles, unseen down", [process(10, 100), process(11, 150)], 1],
    ["down for a cycle, then back", [process(10, 100), undefined, process(12, 300)], 1],
    ["a reused pid that started later", [process(10, 100), process(10, 900)], 1],
    ["a crash loop", [process(1, 1), process(2, 2), process(3, 3), process(4, 4)], 3],
    ["nothing before the first process", [undefined, undefined, process(5, 5)], 0],
  ])("%s", (_name, seen, restarts) => {
    const counter = new RestartCounter();
    let last = 0;
    for (const p of seen) {
      const now = counter.see(p);
      expect(now).toBeGreaterThanOrEqual(last);
      last = now;
    }
    expect(last).toBe(restarts);
  });
});
