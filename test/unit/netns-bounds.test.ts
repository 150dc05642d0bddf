import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runInNamespaces } from "../../src/host/netns.js";
import { alive, killIfAlive, testUser, waitFor } from "../helpers/rootless-docker.js";
import { requireOnCi, withReason } from "../helpers/prerequisites.js";

// issue 16, attack 2: the namespaces are the user's, so the user can take the probe agent's
// stdout (pidfd_getfd) and write into it, during the probe and after it. Here a stand-in for
// nsenter (it ignores its arguments) plays the user's writer; as root it runs as rlx-hostile.
const hostile = (() => {
  try {
    return testUser(process.env["ROOTLESS_HOSTILE_USER"] ?? "rlx-hostile");
  } catch {
    return undefined;
  }
})();
const root = process.geteuid?.() === 0;
const owner = root
  ? hostile && { uid: hostile.uid, gid: hostile.gid }
  : { uid: process.geteuid?.() ?? 1000, gid: process.getegid?.() ?? 1000 };

const missing =
  owner === undefined
    ? "as root it needs the user rlx-hostile (scripts/test-all.sh makes it)"
    : undefined;
describe.skipIf(requireOnCi(missing))(
  withReason("runInNamespaces bounds what the program prints", missing),
  () => {
    let dir: string;
    const fake = (name: string, body: string): string => {
      const path = join(dir, name);
      writeFileSync(path, `#!${process.execPath}\n${body}\n`, { mode: 0o755 });
      return path;
    };
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "rootless-exporter-netns-"));
      chmodSync(dir, 0o777);
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const start = (nsenter: string) =>
      runInNamespaces(1, "/bin/true", [], owner as { uid: number; gid: number }, nsenter);

    it("a flood of lines nobody reads: killed at the bound, memory flat", async () => {
      // 64 MB of 100-byte lines, as fast as the pipe takes them.
      const flood = fake(
        "flood",
        `const line = "x".repeat(99) + "\\n"; const chunk = line.repeat(640);
       let n = 0; const more = () => { while (n++ < 1000) if (!process.stdout.write(chunk)) return process.stdout.once("drain", more); };
       more(); setInterval(() => {}, 1e6);`,
      );
      const before = process.memoryUsage().rss;
      const agent = start(flood);
      await Promise.race([agent.exited, new Promise((r) => setTimeout(r, 10_000))]);
      const grown = process.memoryUsage().rss - before;
      agent.kill();
      await agent.exited;
      // Sixteen lines are kept for the reader; the rest ends the program.
      const read: string[] = [];
      for (let i = 0; i < 100; i++) {
        const line = await agent.nextLine(100).catch((err: Error) => err);
        if (line instanceof Error) {
          expect(line.message).toMatch(/printed more than (16 unread lines|65536 bytes), killed/);
          break;
        }
        read.push(line);
      }
      expect(read.length).toBeLessThanOrEqual(16);
      expect(grown).toBeLessThan(32 * 1024 * 1024);
    }, 30_000);

    it("one endless line: killed at 4,096 bytes", async () => {
      const endless = fake(
        "endless",
        `const chunk = "y".repeat(65536); const more = () => { while (process.stdout.write(chunk)); process.stdout.once("drain", more); }; more();`,
      );
      const agent = start(endless);
      const error = await agent.nextLine(10_000).catch((err: Error) => err);
      expect(String(error)).toMatch(/a line longer than 4096 bytes|more than 65536 bytes/);
      await agent.exited;
    }, 30_000);

    it("a writer that keeps the pipe after the program exits: nothing more is read", async () => {
      // The stand-in prints a line, leaves a writer holding its stdout, and exits; the writer
      // stops only when the pipe's read end is gone (EPIPE).
      const writerPid = join(dir, "writer.pid");
      const after = fake(
        "after",
        `const { spawn } = require("node:child_process");
       const w = spawn(process.execPath, ["-e", ${JSON.stringify(
         `require("node:fs").writeFileSync(${JSON.stringify(writerPid)}, String(process.pid));
          process.stdout.on("error", () => process.exit(0));
          setInterval(() => process.stdout.write("z".repeat(100) + "\\n"), 5);`,
       )}], { stdio: ["ignore", "inherit", "ignore"], detached: true });
       w.unref(); console.log(JSON.stringify({ port: 1 })); setTimeout(() => process.exit(0), 300);`,
      );
      const agent = start(after);
      expect(await agent.nextLine(10_000)).toBe('{"port":1}');
      await agent.exited;
      await waitFor(
        "the writer's pid",
        () => {
          try {
            return readFileSync(writerPid, "utf8") !== "";
          } catch {
            return false;
          }
        },
        5000,
      );
      const pid = Number(readFileSync(writerPid, "utf8"));
      try {
        await waitFor("the writer to get EPIPE", () => !alive(pid), 5000);
      } finally {
        killIfAlive(pid, "SIGKILL");
      }
    }, 30_000);
  },
);
