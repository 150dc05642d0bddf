import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import type { Server } from "node:net";
import { describe, expect, it } from "vitest";
import { builtMain } from "../helpers/daemon.js";
import { waitFor } from "../helpers/expect-soon.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the serving process: stdout stays JSON, start failures are one plain line", () => {
  it("node-cron's 'missed execution' warnings come out as JSON log lines", async () => {
    const child = spawn(
      process.execPath,
      [
        builtMain,
        "--web.listen-address=127.0.0.1:0",
        "--collector.disable-defaults",
        "--collector.subid",
        "--collect.interval=1s",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    try {
      await waitFor("the daemon to listen", () => stdout.includes('"msg":"listening"'), 10_000);
      // Frozen for a few ticks of a 1 s schedule (the fault itself, so a fixed time): node-cron
      // sees missed executions on waking.
      child.kill("SIGSTOP");
      await sleep(5000);
      child.kill("SIGCONT");
      await waitFor(
        "a missed execution logged",
        () => stdout.includes("missed execution"),
        10_000,
        {
          seen: () => stdout,
        },
      );
    } finally {
      child.kill("SIGCONT");
      child.kill("SIGTERM");
      await once(child, "exit");
    }
    const lines = stdout.split("\n").filter((line) => line !== "");
    const parsed = lines.map((line) => {
      try {
        return JSON.parse(line) as { msg?: string; component?: string };
      } catch {
        throw new Error(`not a JSON line on stdout: ${JSON.stringify(line)}`);
      }
    });
    const missed = parsed.filter((l) => l.msg?.startsWith("missed execution"));
    expect(missed.length, `no missed execution logged; stdout:\n${stdout}`).toBeGreaterThan(0);
    expect(missed.every((l) => l.component === "node-cron")).toBe(true);
    expect(stdout).not.toContain("\u001b[");
  }, 20_000);

  it("an address in use: exit 1 and one plain line on stderr, nothing on stdout", async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const { port } = taken.address() as { port: number };
    try {
      const result = await new Promise<{ code: unknown; stdout: string; stderr: string }>(
        (resolve) =>
          execFile(
            process.execPath,
            [builtMain, `--web.listen-address=127.0.0.1:${port}`, "--collector.disable-defaults"],
            { timeout: 15_000 },
            (error, stdout, stderr) => resolve({ code: error?.code, stdout, stderr }),
          ),
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `rootless-exporter: cannot listen on 127.0.0.1:${port}: the address is already in use\n`,
      );
      expect(result.stdout).toBe("");
    } finally {
      taken.close();
    }
  });

  it.each([
    ["--collect.timeout=2147484s", "--collect.timeout: at most 2147483s"],
    ["--collect.rpc-timeout=9999999s", "--collect.rpc-timeout: at most 2147483s"],
    ["--web.telemetry-path=/checks", "--web.telemetry-path: expected a path such as /metrics"],
  ])("%s: exit 2 with one plain line", async (arg, expected) => {
    const result = await new Promise<{ code: unknown; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        [builtMain, "--web.listen-address=127.0.0.1:0", "--collector.disable-defaults", arg],
        { timeout: 15_000 },
        (error, _out, stderr) => resolve({ code: error?.code, stderr }),
      ),
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      new RegExp(`^rootless-exporter: ${expected.replace(/[.*/]/g, "\\$&")}.*\n$`),
    );
  });
});
