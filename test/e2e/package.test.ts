import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectRoot } from "../helpers/daemon.js";
import type { BootedContainer } from "../helpers/nspawn.js";
import { bootContainer } from "../helpers/nspawn.js";
import { waitFor } from "../helpers/rootless-docker.js";

// The release artifact of `npm run package` on a Debian 12 without Node.js: the .deb installed
// with dpkg -i in a booted copy (--volatile=overlay) of the debootstrapped bookworm minbase of
// scripts/test-all.sh, running as the system unit, removed again. scripts/test-all.sh builds it
// once and hands it in as ROOTLESS_TEST_DEB; without that, this file builds it (about 2 minutes).
const root =
  process.env["ROOTLESS_TEST_NSPAWN_ROOT"] ?? "/var/tmp/rootless-exporter-nspawn/bookworm";
const canRun =
  process.getuid?.() === 0 &&
  existsSync(`${root}/lib/systemd/systemd`) &&
  existsSync("/usr/bin/systemd-nspawn") &&
  existsSync("/usr/bin/dpkg-deb") &&
  existsSync("/usr/bin/curl");

const packageScript = join(projectRoot, "scripts/package.mjs");
const build = (...args: string[]) =>
  execFileSync(process.execPath, [packageScript, ...args], { cwd: projectRoot, encoding: "utf8" })
    .trim()
    .split("\n")
    .pop() ?? "";

describe.skipIf(!canRun)("the .deb on a Debian 12 with no Node.js", () => {
  let deb = "";
  let box: BootedContainer;
  const commit = execFileSync("git", ["rev-parse", "--short=7", "HEAD"], {
    cwd: projectRoot,
    encoding: "utf8",
  }).trim();
  const version = JSON.parse(readFileSync(join(projectRoot, "package.json"), "utf8"))
    .version as string;
  const scrape = (port = 10049) =>
    box.execInNetwork(["curl", "-sf", "--max-time", "5", `http://127.0.0.1:${port}/metrics`]);
  const active = async () =>
    (
      await box
        .exec(["systemctl", "is-active", "rootless-exporter"])
        .catch((e: { stdout?: string }) => e.stdout ?? "")
    ).trim();

  beforeAll(async () => {
    deb = process.env["ROOTLESS_TEST_DEB"] ?? build();
    box = await bootContainer(root, [`${deb}:/tmp/rootless-exporter.deb`]);
  }, 600_000);

  afterAll(async () => {
    await box?.stop();
  }, 60_000);

  it("the root filesystem has no Node.js", async () => {
    const found = await box.exec(["sh", "-c", "command -v node nodejs || true"]);
    expect(found.trim()).toBe("");
    expect(existsSync(join(root, "usr/bin/node"))).toBe(false);
  });

  it("dpkg -i installs it, enables and starts the system unit", async () => {
    await box.exec(["dpkg", "-i", "/tmp/rootless-exporter.deb"], 120_000);
    expect((await box.exec(["systemctl", "is-enabled", "rootless-exporter"])).trim()).toBe(
      "enabled",
    );
    await waitFor("the unit to be active", async () => (await active()) === "active", 30_000);
    const unit = readFileSync(box.path("/lib/systemd/system/rootless-exporter.service"), "utf8");
    expect(unit).toMatch(
      /^ExecStart=\/usr\/lib\/rootless-exporter\/node \/usr\/lib\/rootless-exporter\/dist\/main\.js$/m,
    );
    expect(unit).toContain("EnvironmentFile=-/etc/default/rootless-exporter\n");
    // The rest is deploy/systemd's unit, line for line.
    const shipped = readFileSync(
      join(projectRoot, "deploy/systemd/rootless-exporter.service"),
      "utf8",
    );
    const body = (text: string) =>
      text.split("\n").filter((l) => !/^(ExecStart=|# Install)/.test(l));
    expect(body(unit)).toEqual(body(shipped));
    expect(await box.exec(["dpkg-query", "-W", "-f=${Conffiles}", "rootless-exporter"])).toContain(
      "/etc/default/rootless-exporter",
    );
  }, 180_000);

  it("serves /metrics as root (no system user: the unit needs root's capabilities), with version and commit", async () => {
    let body = "";
    await waitFor(
      "/metrics",
      async () => {
        body = await scrape().catch(() => "");
        return /^rootless_collector_success\{/m.test(body);
      },
      30_000,
    );
    const escaped = `${version}+g${commit}`.replace(/[.+]/g, "\\$&");
    expect(body).toMatch(
      new RegExp(
        `^rootless_exporter_build_info\\{version="${escaped}(\\.dirty)?",nodejs_version="v20\\.\\d+\\.\\d+"\\} 1$`,
        "m",
      ),
    );
    const pid = (
      await box.exec(["systemctl", "show", "-p", "MainPID", "--value", "rootless-exporter"])
    ).trim();
    const status = readFileSync(box.path(`/proc/${pid}/status`), "utf8");
    expect(status).toMatch(/^Uid:\s+0\s/m);
    expect(await box.exec(["getent", "passwd", "rootless-exporter"]).catch(() => "")).toBe("");
    // The operator's command line, through /usr/bin.
    expect(await box.exec(["rootless-exporter", "--help"])).toContain("--web.listen-address");
  }, 60_000);

  it("takes its flags from /etc/default/rootless-exporter", async () => {
    writeFileSync(
      box.path("/etc/default/rootless-exporter"),
      "ROOTLESS_EXPORTER_WEB_LISTEN_ADDRESS=127.0.0.1:10050\n",
    );
    await box.exec(["systemctl", "restart", "rootless-exporter"]);
    let body = "";
    await waitFor(
      "/metrics on 10050",
      async () => {
        body = await scrape(10050).catch(() => "");
        return body.includes("rootless_exporter_build_info");
      },
      30_000,
    );
    expect(await scrape(10049).catch(() => "refused")).toBe("refused");
  }, 60_000);

  it("dpkg -r stops and disables the unit and removes it; purge removes the default file", async () => {
    await box.exec(["dpkg", "-r", "rootless-exporter"], 60_000);
    expect(await active()).not.toBe("active");
    expect(existsSync(box.path("/lib/systemd/system/rootless-exporter.service"))).toBe(false);
    expect(
      existsSync(box.path("/etc/systemd/system/multi-user.target.wants/rootless-exporter.service")),
    ).toBe(false);
    expect(existsSync(box.path("/usr/lib/rootless-exporter"))).toBe(false);
    expect(existsSync(box.path("/etc/default/rootless-exporter"))).toBe(true);
    await box.exec(["dpkg", "-P", "rootless-exporter"], 60_000);
    expect(existsSync(box.path("/etc/default/rootless-exporter"))).toBe(false);
  }, 90_000);
});

describe.skipIf(!existsSync("/usr/bin/dpkg-deb"))("npm run package: reproducible", () => {
  it("two builds of the same tree give the same bytes (zstd here for speed; xz the same)", () => {
    const dirs = [0, 1].map(() => mkdtempSync(join(tmpdir(), "rootless-exporter-deb-")));
    try {
      const [first, second] = dirs.map((dir) =>
        readFileSync(build(`--out=${dir}`, "--compression=zstd")),
      );
      expect(first?.length).toBeGreaterThan(10_000_000);
      expect(first?.equals(second ?? Buffer.alloc(0))).toBe(true);
    } finally {
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
