import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { evaluateChecks } from "../../src/checks/registry.js";
import type { DockerFacts } from "../../src/collectors/docker/docker.js";
import { dockerdPrograms } from "../../src/host/discovery.js";
import { checkPidFile } from "../../src/host/pid-files.js";
import { MetricsRenderer } from "../../src/exporter/render/renderer.js";
import { samplesFrom } from "../../src/exporter/render/samples.js";
import { alice, healthyFacts, input } from "../helpers/healthy-facts.js";
import { FakeProcfs } from "../helpers/procfs.js";

// issue 10: what cannot be known is left out (METRICS.md), and file content is never echoed.

const docker = (change: Partial<DockerFacts>): DockerFacts => ({
  ...healthyFacts().docker,
  ...change,
});

async function render(facts: DockerFacts): Promise<string> {
  const renderer = new MetricsRenderer({
    samples: () =>
      samplesFrom({
        collectors: [],
        views: [{ target: alice, facts: { docker: facts }, complete: false, errors: [] }],
        host: {},
        userRuns: [],
        mode: "self",
        build: { version: "0.0.0", nodejsVersion: "v20" },
      }),
    exporterMetrics: false,
  });
  return (await renderer.render()).toString();
}

describe("rootless_dockerd_up and dockerd_running when docker.pid cannot be read", () => {
  it.each<[string, Partial<DockerFacts>, string | undefined, string]>([
    ["up", { dockerdUp: true, pidFile: "ok" }, "1", "pass"],
    ["down: no docker.pid", { dockerdUp: false, pidFile: "missing", apiUp: false }, "0", "fail"],
    [
      "refused unread, API silent",
      { dockerdUp: undefined, pidFile: "unsafe", apiUp: false },
      undefined,
      "unknown",
    ],
    [
      "unreadable, API silent",
      { dockerdUp: undefined, pidFile: "unreadable", apiUp: false },
      undefined,
      "unknown",
    ],
    [
      "refused unread, API answers",
      { dockerdUp: undefined, pidFile: "unsafe", apiUp: true },
      undefined,
      "pass",
    ],
  ])("%s", async (_name, change, value, verdict) => {
    const facts = docker(change);
    const body = await render(facts);
    const line = body.split("\n").find((l) => l.startsWith('rootless_dockerd_up{user="alice"}'));
    expect(line?.split(" ")[1]).toBe(value);
    const finding = evaluateChecks(input({ ...healthyFacts(), docker: facts })).find(
      (f) => f.id === "dockerd_running",
    );
    expect(finding?.state).toBe(verdict);
  });

  it("the runtime dir check says unknown when the dir could not be verified", () => {
    const facts = docker({
      runtimeDir: { path: "/run/user/1000", unverified: "/run/user/1000 is a symbolic link" },
    });
    const finding = evaluateChecks(input({ ...healthyFacts(), docker: facts })).find(
      (f) => f.id === "xdg_runtime_dir",
    );
    expect(finding?.state).toBe("unknown");
  });
});

describe("checkPidFile never echoes what the file holds", () => {
  let procfs: FakeProcfs;
  beforeEach(() => {
    procfs = new FakeProcfs();
  });
  afterEach(() => procfs.cleanup());

  it.each([
    ["a secret", "TOPSECRET-1234"],
    ["a pid and more", "4242 TOPSECRET"],
    ["pid 0", "0"],
  ])("%s: 'not a pid' with the size only", async (_name, content) => {
    procfs.writeRoot("/run/user/1000/docker.pid", content);
    // The fixture's files are the test's own: watched as that uid (a root exporter reads no root file).
    const check = await checkPidFile(
      procfs.roots,
      "/run/user/1000/docker.pid",
      process.geteuid?.() ?? 1000,
      dockerdPrograms,
    );
    expect(check.state).toBe("garbage");
    expect(check.detail).toBe(`/run/user/1000/docker.pid is not a pid (${content.length} bytes)`);
  });
});
