import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { freeForwardablePort, parsePortRange } from "../../src/host/port-range.js";
import { FakeProcfs } from "../helpers/procfs.js";

describe("port-range", () => {
  it.each([
    ["32768\t60999\n", { low: 32768, high: 60999 }],
    ["1024 65000", { low: 1024, high: 65000 }],
    ["60999 32768", undefined],
    ["0 100", undefined],
    ["32768", undefined],
    ["garbage", undefined],
  ])("parsePortRange(%j)", (text, range) => {
    expect(parsePortRange(text)).toEqual(range);
  });

  describe("freeForwardablePort", () => {
    let procfs: FakeProcfs;
    beforeEach(() => {
      procfs = new FakeProcfs();
      mkdirSync(join(procfs.roots.procfs, "sys/net/ipv4"), { recursive: true });
    });
    afterEach(() => procfs.cleanup());

    // issue 21: sid's pasta never forwarded the probe's port 36069, from listen(0).
    it.each([
      ["the default range", "32768\t60999\n", 32768],
      ["a range that starts low", "20000\t60999\n", 20000],
    ])("is below the ephemeral range: %s", async (_name, text, low) => {
      writeFileSync(join(procfs.roots.procfs, "sys/net/ipv4/ip_local_port_range"), text);
      for (let i = 0; i < 20; i++) {
        const port = await freeForwardablePort(procfs.roots);
        expect(port).toBeGreaterThanOrEqual(10_000);
        expect(port).toBeLessThan(low);
      }
    });

    it("falls back to the kernel's default range when the file is missing", async () => {
      expect(await freeForwardablePort(procfs.roots)).toBeLessThan(32768);
    });
  });
});
