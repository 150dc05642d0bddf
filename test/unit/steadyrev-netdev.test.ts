import { spawn, execFileSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { netDevAtOnce, readNetDev } from "../../src/host/proc.js";

/*
 * Review "steadyrev" of the steady cycle's readNetDev (host/proc.ts): /proc/PID/net/dev's first
 * 4,000 bytes read synchronously, a longer file read again through the pool. Each answer is the one
 * main's code gave before the change (readTextAsync as network.ts called it), written out here:
 * over fixture files of every size around the cut and over real /proc of a namespace with
 * 1,500 interfaces, a zombie and a gone pid (root only).
 */

type Read = Awaited<ReturnType<typeof readNetDev>>;
/** The answer without the OS's message (its path differs by the open's flags, never its kind). */
const shape = (r: Read) => (r.ok ? { ok: true, text: r.text } : { ok: false, reason: r.reason });

const header =
  "Inter-|   Receive                                                |  Transmit\n" +
  " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n";
const body = (bytes: number): string => {
  let text = header;
  for (let i = 0; text.length < bytes; i++)
    text += `${`v${i}`.padStart(6)}: ${i} 7 0 0 0 0 0 0 ${i * 2} 9 0 0 0 0 0 0\n`;
  return text.slice(0, bytes);
};

describe("steadyrev: readNetDev gives main's readTextAsync's answers (fixtures)", () => {
  let procfs: string;
  const roots = () => ({ procfs, sysfs: "/sys", rootfs: "/" });
  const dir = (pid: number) => join(procfs, String(pid), "net");
  const write = (pid: number, text: string) => {
    mkdirSync(dir(pid), { recursive: true });
    writeFileSync(join(dir(pid), "dev"), text);
  };

  beforeAll(() => {
    procfs = mkdtempSync(join(tmpdir(), "rootless-exporter-steadyrev-netdev-"));
  });
  afterAll(() => rmSync(procfs, { recursive: true, force: true }));

  const sizes = [0, 1, 450, 3999, netDevAtOnce, netDevAtOnce + 1, 4096, 8193, 65_536, 262_144];
  const limits = [100, 4000, 262_144];
  it("gives main's answer for every size around the cut and every limit: the whole file, or too_large", async () => {
    let pid = 100;
    for (const size of [...sizes, 262_145, 300_000]) {
      for (const limit of limits) {
        write(++pid, body(size));
        const now = shape(await readNetDev(roots(), pid, limit));
        // main's readTextAsync: the file's text byte for byte up to the limit, too_large past it.
        expect(now, `${size} bytes, limit ${limit}`).toEqual(
          size > limit ? { ok: false, reason: "too_large" } : { ok: true, text: body(size) },
        );
      }
    }
  });

  it("gives main's answer for a missing pid, a directory and a file in place of net", async () => {
    mkdirSync(join(dir(9001), "dev"), { recursive: true });
    mkdirSync(join(procfs, "9002"), { recursive: true });
    writeFileSync(join(procfs, "9002", "net"), "not a directory");
    // main's answers: no such pid, missing; a directory at net/dev, not_a_file; a file at net
    // (ENOTDIR), missing.
    const expected = [
      [9000, "missing"],
      [9001, "not_a_file"],
      [9002, "missing"],
    ] as const;
    for (const [pid, reason] of expected) {
      const now = shape(await readNetDev(roots(), pid, 262_144));
      expect(now.ok, String(pid)).toBe(false);
      expect(now, String(pid)).toEqual({ ok: false, reason });
    }
  });

  it("never waits on a FIFO in net/dev's place (O_NONBLOCK), with or without a writer", async () => {
    mkdirSync(dir(9100), { recursive: true });
    const fifo = join(dir(9100), "dev");
    execFileSync("mkfifo", [fifo]);
    const started = performance.now();
    const alone = await readNetDev(roots(), 9100, 262_144);
    // No writer: a read of a FIFO opened O_NONBLOCK sees its end at once.
    expect(alone).toEqual({ ok: true, text: "" });
    const writer = spawn("sh", ["-c", `exec 3>"$0"; sleep 5`, fifo], { stdio: "ignore" });
    try {
      await new Promise((r) => setTimeout(r, 300));
      // A writer that writes nothing: EAGAIN, an error, never a wait on the event loop.
      const held = await readNetDev(roots(), 9100, 262_144);
      expect(held.ok).toBe(false);
    } finally {
      writer.kill();
    }
    expect(performance.now() - started).toBeLessThan(3000);
  });

  it("never follows a symlink in net/dev's place (O_NOFOLLOW; main's readTextAsync did)", async () => {
    write(9200, body(450));
    mkdirSync(dir(9201), { recursive: true });
    symlinkSync(join(dir(9200), "dev"), join(dir(9201), "dev"));
    const now = await readNetDev(roots(), 9201, 262_144);
    expect(now.ok).toBe(false);
    expect(now.ok ? "" : now.reason).toBe("io_error");
  });
});

const isRoot = process.getuid?.() === 0;
const canUnshare = isRoot && existsSync("/usr/bin/unshare") && existsSync("/usr/bin/nsenter");

describe.skipIf(!canUnshare)("steadyrev: readNetDev over real /proc (root)", () => {
  const roots = { procfs: "/proc", sysfs: "/sys", rootfs: "/" };
  let holder: ChildProcess;
  let pid: number;
  const pairs = 750;

  beforeAll(async () => {
    // A network namespace of our own (no traffic leaves it) with 1,500 interfaces in it.
    holder = spawn("unshare", ["-n", "sleep", "120"], { stdio: "ignore" });
    pid = holder.pid ?? 0;
    await new Promise((r) => setTimeout(r, 300));
    let batch = "";
    for (let i = 0; i < pairs; i++) batch += `link add a${i} type veth peer name b${i}\n`;
    execFileSync("nsenter", ["-t", String(pid), "-n", "ip", "-batch", "-"], { input: batch });
  }, 120_000);
  afterAll(() => {
    holder.kill();
  });

  it("reads 1,500 interfaces whole, as main did, with at most one page made on the event loop", async () => {
    const names = (r: Read) =>
      r.ok
        ? r.text
            .split("\n")
            .slice(2)
            .map((l) => l.split(":")[0]?.trim())
        : [];
    const now = await readNetDev(roots, pid, 262_144);
    expect(now.ok).toBe(true);
    // main's answer: every line, in the kernel's order (lo, then each pair's peer before it), and
    // the empty string after the text's last newline.
    const expected = ["lo"];
    for (let i = 0; i < pairs; i++) expected.push(`b${i}`, `a${i}`);
    expected.push("");
    expect(names(now)).toEqual(expected);
    expect(names(now).length).toBeGreaterThan(2 * pairs);
    // The synchronous part (open, one or two reads of at most a page each, close), timed alone:
    // far below a scrape's budget, whatever the number of interfaces.
    const spans: number[] = [];
    for (let i = 0; i < 21; i++) {
      const started = performance.now();
      const pending = readNetDev(roots, pid, 262_144);
      spans.push(performance.now() - started);
      await pending;
    }
    spans.sort((a, b) => a - b);
    if (process.env.STEADYREV_PRINT)
      console.log("sync part (ms)", spans.map((s) => s.toFixed(3)).join(" "));
    expect(spans[10]).toBeLessThan(5);
  });

  it("answers a zombie's and a gone pid's net/dev as missing, at once, as main did", async () => {
    // bash's child `sleep 0.05` ends after the exec, never reaped by the sleep: a zombie.
    const parent = spawn("bash", ["-c", "sleep 0.05 & echo $!; exec sleep 10 >/dev/null"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    try {
      const zombie = await new Promise<number>((resolve) =>
        parent.stdout?.once("data", (d: Buffer) => resolve(Number(String(d).trim()))),
      );
      await new Promise((r) => setTimeout(r, 200));
      const stat = execFileSync("cat", [`/proc/${zombie}/stat`]).toString();
      expect(stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3)).toBe("Z");
      for (const gone of [zombie, 2 ** 22 + 1]) {
        const now = await readNetDev(roots, gone, 262_144);
        expect(shape(now), String(gone)).toEqual({ ok: false, reason: "missing" });
      }
    } finally {
      parent.kill();
    }
  });
});
