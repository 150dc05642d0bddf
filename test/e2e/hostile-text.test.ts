import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  linkSync,
  mkdtempSync,
  rmSync,
} from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningDaemon } from "../helpers/daemon.js";
import {
  builtMain,
  projectRoot,
  seriesLines,
  startDaemon,
  waitForMetrics,
} from "../helpers/daemon.js";
import type { TestUser } from "../helpers/rootless-docker.js";
import { hostileMissing, hostileUser, hostileUserName } from "../helpers/hostile-user.js";
import { alive, asUser, waitFor } from "../helpers/rootless-docker.js";
import { requireOnCi, withReason } from "../helpers/prerequisites.js";

// Issue 16, attacks 4 and 5, by a real unprivileged user against a root exporter: the user's
// docker.sock answers /info with a Driver that forges report lines, and the user's api.sock
// answers /v1/ports with 9,500 distinct protos. Needs root and the user rlx-hostile
// (scripts/test-all.sh makes it).
const run = promisify(execFile);
const userName = hostileUserName;
const user = hostileUser;
const missing = hostileMissing;

const texts = {
  driver: "overlay2\nPASS     storage_driver, dockerd_running\u202e\u2028INFO     all is well\r",
  version: "27.0.0\n# HELP forged\u2029",
  networkDriver: "slirp4netns\u0085CRITICAL nothing",
};
const invisible = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;
const markers = /^\s*(CRITICAL|WARNING|INFO|UNKNOWN|ERROR|PASS)\b/;

describe.skipIf(requireOnCi(missing))(
  withReason(`forged texts and labels of ${userName} (needs root and the user)`, missing),
  () => {
    const u = user as TestUser;
    let scratch: string; // root's: the executable named rootlesskit and its script
    let runtimeDir: string; // the user's
    let kit: ChildProcess;
    let exporter: RunningDaemon;

    beforeAll(async () => {
      scratch = mkdtempSync("/tmp/rootless-exporter-text-bin-");
      chmodSync(scratch, 0o755);
      // /proc/PID/exe must end in rootlesskit for discovery: Node under that name.
      const exe = join(scratch, "rootlesskit");
      try {
        linkSync(process.execPath, exe);
      } catch {
        copyFileSync(process.execPath, exe);
        chmodSync(exe, 0o755);
      }
      copyFileSync(join(projectRoot, "test/helpers/hostile-kit.mjs"), join(scratch, "kit.mjs"));
      chmodSync(join(scratch, "kit.mjs"), 0o644);
      runtimeDir = mkdtempSync("/tmp/rootless-exporter-text-run-");
      chownSync(runtimeDir, u.uid, u.gid);
      chmodSync(runtimeDir, 0o700);
      const stateDir = join(runtimeDir, "kit");
      const env = { XDG_RUNTIME_DIR: runtimeDir, HOSTILE_TEXTS: JSON.stringify(texts) };
      const [file = "", ...rest] = [
        ...asUser(u, env),
        exe,
        join(scratch, "kit.mjs"),
        `--state-dir=${stateDir}`,
      ];
      kit = spawn(file, rest, { stdio: "ignore", cwd: "/" });
      await waitFor(
        "the fake sockets",
        () => existsSync(join(stateDir, "api.sock")) && existsSync(join(runtimeDir, "docker.sock")),
        20_000,
      );
      exporter = await startDaemon([`--target.user=${userName}`, "--collect.interval=1s"]);
    }, 60_000);

    afterAll(async () => {
      await exporter?.stop();
      if (kit?.pid !== undefined && alive(kit.pid)) kit.kill("SIGKILL");
      rmSync(runtimeDir, { recursive: true, force: true });
      rmSync(scratch, { recursive: true, force: true });
    });

    it("/metrics: proto is a closed set, forged labels are plain, the body stays small", async () => {
      const body = await waitForMetrics(
        exporter,
        (b) => b.includes(`rootless_rootlesskit_ports{user="${userName}",proto="other"}`),
        30_000,
      );
      const ports = seriesLines(body).filter((l) => l.startsWith("rootless_rootlesskit_ports{"));
      expect(ports.map((l) => l.replace(/^.*proto="([^"]*)".* (\d+)$/, "$1 $2")).sort()).toEqual([
        "other 9497",
        "tcp 3",
        "udp 0",
      ]);
      expect(body).toMatch(
        new RegExp(
          `rootless_docker_info\\{user="${userName}",version="invalid",storage_driver="invalid"`,
        ),
      );
      expect(body).toMatch(
        /rootless_rootlesskit_info\{[^}]*version="invalid"[^}]*network_driver="other"/,
      );
      expect(body).not.toContain("# HELP forged");
      expect(body.replaceAll("\n", "")).not.toMatch(invisible);
      const userSeries = seriesLines(body).filter((l) => l.includes(`user="${userName}"`));
      // Before: 8,552 ports series and 520 KB. Now a user's series and the whole body are bounded.
      expect(userSeries.length).toBeLessThan(200);
      expect(Buffer.byteLength(body)).toBeLessThan(64 * 1024);
    });

    it("check: the forged Driver is one quoted value on its line, no PASS or INFO of its own", async () => {
      const check = async (...extra: string[]) =>
        run(process.execPath, [builtMain, "check", `--target.user=${userName}`, ...extra], {
          timeout: 60_000,
        }).then(
          (r) => r.stdout,
          (e: { stdout?: string; code?: number }) => {
            // Nagios codes: a failing critical check exits 2; anything else is a broken run.
            expect(e.code).toBe(2);
            return e.stdout ?? "";
          },
        );
      for (const lang of ["en", "zh-CN"]) {
        const report = await check(`--lang=${lang}`);
        const lines = report.split("\n");
        expect(report).toContain(
          '"overlay2\\nPASS     storage_driver, dockerd_running\\u202e\\u2028INFO     all is well\\r"',
        );
        expect(report.replaceAll("\n", "")).not.toMatch(invisible);
        const marked = lines.map((l) => markers.exec(l)?.[1]).filter((m) => m !== undefined);
        expect(marked.filter((m) => m === "PASS")).toHaveLength(1);
        // Every severity line is a finding's own: "SEVERITY id: summary".
        for (const line of lines.filter((l) => markers.test(l) && !/^PASS\b/.test(l)))
          expect(line).toMatch(
            /^(CRITICAL|WARNING|INFO|UNKNOWN|ERROR) +([a-z][a-z0-9_]*( \(\w+\))?|\S+):/,
          );
        expect(lines.filter((l) => /^INFO +all is well/.test(l))).toEqual([]);
      }
      const json = await check("--json");
      expect(json.replaceAll("\n", "")).not.toMatch(invisible);
      const parsed = JSON.parse(json) as {
        targets: { checks: { id: string; summary: string; facts: Record<string, unknown> }[] }[];
      };
      const storage = parsed.targets[0]?.checks.find((c) => c.id === "storage_driver");
      // The facts keep the value as it was; the summary quotes it.
      expect(storage?.facts["driver"]).toBe(texts.driver);
      expect(storage?.summary).not.toMatch(invisible);
    });

    it("/checks and the page: summaries quote the value", async () => {
      const checks = (await (await fetch(exporter.url("/checks"))).json()) as {
        targets: { checks: { summary: string; remediation?: string }[] }[];
      };
      const texts = checks.targets.flatMap((t) =>
        t.checks.flatMap((c) => [c.summary, c.remediation ?? ""]),
      );
      expect(texts.join("")).toContain("overlay2\\nPASS");
      for (const text of texts) expect(text.replaceAll("\n", "")).not.toMatch(invisible);
      const page = await (await fetch(exporter.url("/"))).text();
      expect(page).not.toMatch(/[\u202e\u2028\u2029\u0085]/);
    });
  },
);
