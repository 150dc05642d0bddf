import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import bcrypt from "bcrypt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canMakeCerts, makeCerts } from "../helpers/certs.js";
import type { RunningDaemon } from "../helpers/daemon.js";
import { startDaemon } from "../helpers/daemon.js";
import { firstMissing, requireOnCi, withReason } from "../helpers/prerequisites.js";

// A real Prometheus (Debian's, installed by scripts/test-all.sh) scrapes the exporter over TLS
// with basic auth: the right password makes the target up, a wrong one makes it down; over HTTP/2.
const prometheusBin = "/usr/bin/prometheus";
const missing = firstMissing(
  [canMakeCerts, "no /usr/bin/openssl (apt-get install openssl)"],
  [existsSync(prometheusBin), `${prometheusBin} is missing (apt-get install prometheus)`],
);

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

interface Target {
  labels: Record<string, string>;
  health: string;
  lastError: string;
}

describe.skipIf(requireOnCi(missing))(
  withReason("a real Prometheus scrapes over TLS with basic_auth", missing),
  () => {
    let dir = "";
    let exporter: RunningDaemon;
    let prometheus: ChildProcess | undefined;
    let promUrl = "";

    const targets = async (): Promise<Target[]> => {
      const body = (await (await fetch(`${promUrl}/api/v1/targets`)).json()) as {
        data: { activeTargets: Target[] };
      };
      return body.data.activeTargets;
    };
    const health = async (job: string) => (await targets()).find((t) => t.labels["job"] === job);

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "rootless-exporter-promtls-"));
      const certs = makeCerts(dir);
      const hash = (await bcrypt.hash("scrape-pw", 8)).replace(/^\$2b\$/, "$2y$");
      writeFileSync(
        join(dir, "web.yml"),
        `tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\nbasic_auth_users:\n  prometheus: "${hash}"\n`,
      );
      exporter = await startDaemon([
        "--log.level=debug",
        "--collector.disable-defaults",
        "--collector.subid",
        `--web.config.file=${join(dir, "web.yml")}`,
      ]);
      const job = (name: string, password: string) =>
        [
          `  - job_name: ${name}`,
          "    scheme: https",
          `    tls_config: { ca_file: ${certs.ca} }`,
          `    basic_auth: { username: prometheus, password: ${password} }`,
          `    static_configs: [{ targets: ["127.0.0.1:${exporter.port}"] }]`,
        ].join("\n");
      writeFileSync(
        join(dir, "prometheus.yml"),
        `global:\n  scrape_interval: 1s\nscrape_configs:\n${job("right", "scrape-pw")}\n${job("wrong", "not-it")}\n`,
      );
      const port = await freePort();
      promUrl = `http://127.0.0.1:${port}`;
      prometheus = spawn(
        prometheusBin,
        [
          `--config.file=${join(dir, "prometheus.yml")}`,
          `--storage.tsdb.path=${join(dir, "data")}`,
          `--web.listen-address=127.0.0.1:${port}`,
        ],
        { stdio: "ignore" },
      );
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const ready = await fetch(`${promUrl}/-/ready`).catch(() => undefined);
        if (ready?.status === 200) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }, 90_000);

    afterAll(async () => {
      prometheus?.kill("SIGTERM");
      await exporter?.stop();
      rmSync(dir, { recursive: true, force: true });
    }, 30_000);

    it("the right password: up; a wrong one: down with 401", async () => {
      const deadline = Date.now() + 30_000;
      let right: Target | undefined;
      let wrong: Target | undefined;
      while (Date.now() < deadline) {
        right = await health("right").catch(() => undefined);
        wrong = await health("wrong").catch(() => undefined);
        if (right?.health === "up" && wrong?.health === "down") break;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(right?.health).toBe("up");
      expect(wrong?.health).toBe("down");
      expect(wrong?.lastError).toMatch(/401/);
      const query = await (
        await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent("up")}`)
      ).json();
      const up = Object.fromEntries(
        (
          query as { data: { result: { metric: { job: string }; value: [number, string] }[] } }
        ).data.result.map((r) => [r.metric.job, r.value[1]]),
      );
      expect(up).toEqual({ right: "1", wrong: "0" });
      // Prometheus's scrape client offers h2 over TLS and the exporter takes it, as Go's would.
      expect(exporter.logs.some((l) => l.includes('"msg":"HTTP/2 connection"'))).toBe(true);
    }, 60_000);
  },
);
