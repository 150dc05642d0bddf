import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerCollector } from "../../src/collectors/docker/docker.js";
import { readConfiguredDaemon } from "../../src/collectors/docker/docker-config.js";
import { parseAgentPort } from "../../src/collectors/probe/probe-agent-lines.js";
import { queryApi, parseInfo } from "../../src/collectors/rootlesskit/rootlesskit-api.js";
import { parseBoundedJson } from "../../src/host/bounded-json.js";
import { parseJson } from "../../src/host/unix-http.js";
import type { Target } from "../../src/host/target.js";
import { collectorContext } from "../helpers/context.js";

const MiB = 1024 * 1024;
/** The attack of issue 16: 1 MiB of nested arrays, 85-190 ms of JSON.parse on the main thread. */
const arrayBomb = "[".repeat(MiB / 2) + "]".repeat(MiB / 2);
const objectBomb = '{"a":'.repeat(MiB / 6) + "1" + "}".repeat(MiB / 6);
/** Under the 256 KiB bound in size: refused for its depth alone. */
const smallBomb = "[".repeat(100_000) + "]".repeat(100_000);
const smallObjectBomb = '{"a":'.repeat(40_000) + "1" + "}".repeat(40_000);
/** A real /info is a few KB; this one is over the 256 KiB bound and otherwise valid. */
const hugeInfo = JSON.stringify({
  ServerVersion: "24.0.7",
  Driver: "overlay2",
  SecurityOptions: ["name=rootless"],
  Labels: Array.from({ length: 30_000 }, (_, i) => `label${i}=x`),
});

describe("parseBoundedJson", () => {
  it.each<[string, string, string]>([
    ["a normal answer", '{"a":[1,{"b":"]]]]"}],"c":"\\"["}', "ok"],
    ["32 levels", "[".repeat(32) + "]".repeat(32), "ok"],
    ["33 levels", "[".repeat(33) + "]".repeat(33), "too_deep"],
    ["brackets inside strings are not nesting", `["${"[".repeat(100)}"]`, "ok"],
    ["an escaped quote does not end a string", `["\\"${"[".repeat(100)}"]`, "ok"],
    ["a closing bracket first", "]" + "[".repeat(100), "invalid"],
    ["200 KB of nested arrays", smallBomb, "too_deep"],
    ["200 KB of nested objects", smallObjectBomb, "too_deep"],
    ["the 1 MiB array bomb", arrayBomb, "too_large"],
    ["the 1 MiB object bomb", objectBomb, "too_large"],
    ["over the size bound", hugeInfo, "too_large"],
  ])("%s", (_name, body, expected) => {
    const answer = parseBoundedJson(body);
    expect(answer.ok ? "ok" : answer.reason).toBe(expected);
    // A refusal names the bound, never the content.
    if (!answer.ok) expect(answer.detail).not.toContain("[[");
  });

  it("refuses the bomb in a fraction of what JSON.parse takes, and a normal answer costs the same", () => {
    const normal = JSON.stringify({ Labels: Array.from({ length: 200 }, (_, i) => `l${i}=v`) });
    const time = (f: () => unknown, n: number): number => {
      const start = performance.now();
      for (let i = 0; i < n; i++) f();
      return (performance.now() - start) / n;
    };
    // Side by side in one run: the machine is noisy.
    const bounded = time(() => parseBoundedJson(smallBomb), 5);
    const unbounded = time(() => JSON.parse(smallBomb) as unknown, 2);
    expect(bounded).toBeLessThan(unbounded / 20);
    const scanned = time(() => parseBoundedJson(normal), 500);
    const plain = time(() => JSON.parse(normal) as unknown, 500);
    expect(scanned).toBeLessThan(plain * 4 + 0.05);
    // The helper the collectors used before takes the same bound.
    expect(parseJson(arrayBomb)).toBeUndefined();
  });
});

describe("a user's socket answering a JSON bomb", () => {
  let base: string;
  let server: Server;
  const bodies = new Map<string, string>();
  const target = (): Target => ({
    name: "self",
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    home: join(base, "home"),
    groups: [],
    runtimeDir: join(base, "run"),
  });

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), "rootless-exporter-json-"));
    mkdirSync(join(base, "run"), { mode: 0o700 });
    mkdirSync(join(base, "home"), { mode: 0o700 });
    mkdirSync(join(base, "state"), { mode: 0o700 });
    server = createServer((req, res) => {
      res.setHeader("Content-Type", "application/json");
      res.end(req.url === "/_ping" ? "OK" : (bodies.get(req.url ?? "") ?? "{}"));
    });
    await new Promise<void>((resolve) => server.listen(join(base, "run/docker.sock"), resolve));
  });
  afterAll(() => {
    server.close();
    rmSync(base, { recursive: true, force: true });
  });

  const collect = async (body: string) => {
    bodies.set("/info", body);
    const notes: string[] = [];
    const roots = { procfs: "/proc", sysfs: "/sys", rootfs: "/" };
    const ctx = collectorContext(roots, target(), { note: (n) => notes.push(n) });
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const facts = await dockerCollector.collect(ctx);
    delay.disable();
    return { facts, notes, maxDelayMs: delay.max / 1e6 };
  };

  it.each([
    ["1 MiB, as in the attack", arrayBomb, /answer too large|262144/],
    ["200 KB", smallBomb, /answer too deep/],
  ])(
    "is a fact, not a stall: the API answers, a nested /info of %s is refused",
    async (_n, bomb, why) => {
      const { facts, notes, maxDelayMs } = await collect(bomb);
      expect(facts.apiUp).toBe(true);
      expect(facts.info).toBeUndefined();
      expect(notes.join("\n")).toMatch(why);
      expect(notes.join("\n")).not.toContain("[[");
      // JSON.parse of it held the loop 85-190 ms here.
      expect(maxDelayMs).toBeLessThan(40);
    },
  );

  it("refuses an /info over 256 KiB", async () => {
    const { facts, notes } = await collect(hugeInfo);
    expect(facts.info).toBeUndefined();
    expect(notes.join("\n")).toMatch(/docker API: .*\/info: body longer than 262144 bytes/);
  });

  it("still reads a normal /info", async () => {
    const info = {
      ServerVersion: "24.0.7",
      Driver: "overlay2",
      SecurityOptions: ["name=rootless"],
    };
    const { facts } = await collect(JSON.stringify(info));
    expect(facts.info).toMatchObject({
      version: "24.0.7",
      storageDriver: "overlay2",
      rootless: true,
    });
  });

  it("refuses rootlesskit's /v1/info as too deep", async () => {
    const api = createServer((_req, res) => res.end(smallObjectBomb));
    await new Promise<void>((resolve) => api.listen(join(base, "state/api.sock"), resolve));
    try {
      const roots = { procfs: "/proc", sysfs: "/sys", rootfs: "/" };
      const answer = await queryApi(roots, join(base, "state"), "/v1/info", parseInfo, {
        timeoutMs: 2000,
      });
      expect(answer).toEqual({
        ok: false,
        error:
          "GET /v1/info answered 200 with an unexpected body (answer too deep (over 32 levels of nesting))",
      });
    } finally {
      api.close();
    }
  });

  it("refuses a nested ~/.config/docker/daemon.json as malformed", async () => {
    mkdirSync(join(base, "home/.config/docker"), { recursive: true });
    writeFileSync(join(base, "home/.config/docker/daemon.json"), smallObjectBomb);
    const roots = { procfs: "/proc", sysfs: "/sys", rootfs: "/" };
    const configured = await readConfiguredDaemon(roots, target());
    expect(configured.configState).toBe("malformed");
  });
});

describe("a probe agent line", () => {
  it("is refused when nested past the bound", () => {
    expect(() => parseAgentPort(`{"port":1,"x":${smallBomb}}`)).toThrow(/answer too deep/);
    expect(parseAgentPort('{"port":4242}')).toBe(4242);
  });
});
