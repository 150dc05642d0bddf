import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { statUserNames } from "../../src/host/user-files.js";

/*
 * Review "steadyrev" of statUserNames (host/user-files.ts): the nested name is opened once for
 * each time it appears in `names`, and only the last handle is kept and released; an earlier one
 * is left open until the garbage collector finds it. No caller passes a name twice today
 * (scans.ts runtimeNames), so this is latent: the test fails until the loop opens the nested name
 * once (the report's fix 2).
 */

const uid = process.getuid?.() ?? 0;
const openFds = () => readdirSync("/proc/self/fd").length;
const settle = () => new Promise((r) => setTimeout(r, 100));

describe("steadyrev: statUserNames with the nested name twice", () => {
  let base: string;
  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), "rootless-exporter-steadyrev-leak-"));
    mkdirSync(join(base, "dockerd-rootless"), { mode: 0o700 });
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  const nested = { name: "dockerd-rootless", names: ["child_pid"] };
  const names = ["docker.pid", "dockerd-rootless", "dockerd-rootless"];

  it("leaves no descriptor open when a name is asked twice", async () => {
    // Warm: the walk's own descriptors (/, the memo-less walk) are opened and closed once.
    await statUserNames(base, uid, ["docker.pid"], undefined, nested);
    await settle();
    const before = openFds();
    for (let i = 0; i < 5; i++) {
      const found = await statUserNames(base, uid, names, undefined, nested);
      expect(found.ok && found.nested?.ok).toBe(true);
    }
    await settle();
    expect(openFds() - before).toBe(0);
  });
});
