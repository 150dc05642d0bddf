import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type * as Fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

/*
 * A namespace's /proc/PID/net/dev (host/proc.ts readNetDev, the helper "steady"): the usual file
 * read at once, a longer one (a user's thousands of interfaces) read whole through the thread pool,
 * never more than `netDevAtOnce` bytes of it asked for on the event loop, bounded by the limit.
 */

const reads = vi.hoisted(() => ({ sizes: [] as number[] }));
vi.mock("node:fs", async (importOriginal) => {
  const real = await importOriginal<typeof Fs>();
  const readSync = ((fd: number, buffer: Buffer, offset: number, length: number, at: null) => {
    reads.sizes.push(length);
    return real.readSync(fd, buffer, offset, length, at);
  }) as typeof real.readSync;
  return { ...real, default: { ...real, readSync }, readSync };
});

const { netDevAtOnce, readNetDev } = await import("../../src/host/proc.js");

const header =
  "Inter-|   Receive                                                |  Transmit\n" +
  " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n";
const line = (name: string, n: number): string =>
  `${name.padStart(6)}: ${n} 7 0 0 0 0 0 0 ${n * 2} 9 0 0 0 0 0 0\n`;

describe("readNetDev", () => {
  let procfs: string;
  const roots = () => ({ procfs, sysfs: "/sys", rootfs: "/" });
  const write = (pid: number, text: string) => {
    mkdirSync(join(procfs, String(pid), "net"), { recursive: true });
    writeFileSync(join(procfs, String(pid), "net/dev"), text);
  };

  beforeAll(() => {
    procfs = mkdtempSync(join(tmpdir(), "rootless-exporter-steady-netdev-"));
  });
  afterAll(() => rmSync(procfs, { recursive: true, force: true }));

  it("reads a usual namespace's file at once", async () => {
    const text = header + line("lo", 100) + line("tap0", 2000);
    write(10, text);
    reads.sizes.length = 0;
    expect(await readNetDev(roots(), 10, 256 * 1024)).toEqual({ ok: true, text });
    expect(reads.sizes.length).toBeGreaterThan(0);
  });

  it("reads a long file whole off the loop, asking at most netDevAtOnce bytes at once", async () => {
    let text = header;
    for (let i = 0; text.length < 40_000; i++) text += line(`veth${i}`, i);
    write(11, text);
    reads.sizes.length = 0;
    expect(await readNetDev(roots(), 11, 256 * 1024)).toEqual({ ok: true, text });
    expect(Math.max(...reads.sizes)).toBeLessThanOrEqual(netDevAtOnce + 1);
  });

  it("keeps the bound: a file over the limit is too large, whether read at once or not", async () => {
    let text = header;
    for (let i = 0; text.length < 20_000; i++) text += line(`veth${i}`, i);
    write(12, text);
    expect(await readNetDev(roots(), 12, 10_000)).toMatchObject({ ok: false, reason: "too_large" });
    expect(await readNetDev(roots(), 12, 200)).toMatchObject({ ok: false, reason: "too_large" });
  });

  it("says missing for a process that is gone", async () => {
    expect(await readNetDev(roots(), 13, 256 * 1024)).toMatchObject({
      ok: false,
      reason: "missing",
    });
  });
});
