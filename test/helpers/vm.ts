import { execFile, execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import {
  accessSync,
  constants,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { alive, waitFor } from "./rootless-docker.js";

/** Where scripts/vm-image.sh caches the image, kernel, initrd and root's ssh key. */
export const vmDir = process.env["ROOTLESS_TEST_VM_DIR"] ?? "/var/tmp/rootless-exporter-vm";
const qemu = "/usr/bin/qemu-system-x86_64";

/** Why the real-host ring cannot run here, or undefined when it can. */
export function vmSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (the VM image and its ssh key are root's)";
  if (!existsSync(qemu)) return `${qemu} is missing (apt-get install qemu-system-x86)`;
  for (const file of ["disk.raw", "vmlinuz", "initrd.img", "id_ed25519"])
    if (!existsSync(join(vmDir, file)))
      return `${vmDir}/${file} is missing (run scripts/vm-image.sh as root)`;
  return undefined;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address
          ? resolve(address.port)
          : reject(new Error("no port")),
      );
    });
  });
}

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A Debian 12 booted by QEMU, reachable over ssh and forwarded ports on 127.0.0.1. */
export interface BootedVm {
  /** QEMU's pid, the only process stop() ends. */
  readonly pid: number;
  readonly accel: "kvm" | "tcg";
  /** Seconds from starting QEMU to the first ssh command that ran. */
  readonly bootSeconds: number;
  /** Host port on 127.0.0.1 for each guest TCP port asked for. */
  readonly ports: ReadonlyMap<number, number>;
  readonly serialLog: string;
  /**
   * Runs a program in the guest as root with this exact argument vector: the remote command is the
   * fixed `xargs -0 -x -- env --`, which receives the argv NUL-separated on stdin and has env exec
   * it, so no guest shell ever parses it (argv[0] must not contain "=", or env takes it for a
   * variable). Resolves with the exit code (xargs folds 1-125 into 123) instead of throwing.
   */
  run(argv: readonly string[], timeoutMs?: number): Promise<ExecResult>;
  /** As run(), but rejects unless the program exits 0; resolves with its stdout. */
  exec(argv: readonly string[], timeoutMs?: number): Promise<string>;
  /**
   * Copies a local tree into the guest's root: `tree/home/vma/x` lands at `/home/vma/x`, owned by
   * `owner`. Directories that exist in the guest keep their owner and mode (--no-overwrite-dir).
   */
  pushTree(tree: string, owner: string, timeoutMs?: number): Promise<void>;
  /** Runs a program in the guest as `user` (ssh as that user, so with a logind session). */
  sshAs(user: string, argv: readonly string[]): ChildProcess;
  stop(): Promise<void>;
}

function sshArgs(port: number, user: string): string[] {
  return [
    "-i",
    join(vmDir, "id_ed25519"),
    "-p",
    String(port),
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ConnectTimeout=10",
    `${user}@127.0.0.1`,
  ];
}

function runSsh(port: number, argv: readonly string[], timeoutMs: number): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(
      "ssh",
      [...sshArgs(port, "root"), "xargs", "-0", "-x", "--", "env", "--"],
      { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(argv.map((a) => `${a}\0`).join(""));
  });
}

function kvmUsable(): boolean {
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function startQemu(
  accel: "kvm" | "tcg",
  hostfwd: string[],
  serialLog: string,
): { child: ChildProcess; output: () => string } {
  const args = [
    "-snapshot",
    "-accel",
    accel === "kvm" ? "kvm" : "tcg,thread=multi",
    "-cpu",
    accel === "kvm" ? "host" : "max",
    "-m",
    "2G",
    "-smp",
    "2",
    "-display",
    "none",
    "-vga",
    "none",
    "-monitor",
    "none",
    "-serial",
    `file:${serialLog}`,
    "-kernel",
    join(vmDir, "vmlinuz"),
    "-initrd",
    join(vmDir, "initrd.img"),
    "-append",
    [
      "root=/dev/vda rw console=ttyS0 systemd.show_status=0",
      // Drivers of emulated hardware nothing here uses; each costs seconds to load under TCG.
      "modprobe.blacklist=kvm,kvm_amd,kvm_intel,bochs,cfg80211,parport_pc,ppdev,pcspkr,floppy",
    ].join(" "),
    "-drive",
    `file=${join(vmDir, "disk.raw")},format=raw,if=virtio`,
    "-nic",
    `user,model=virtio-net-pci,restrict=on,${hostfwd.join(",")}`,
  ];
  let output = "";
  const child = spawn(qemu, args, { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr?.on("data", (c: Buffer) => (output += c.toString()));
  return { child, output: () => output };
}

async function stopPid(child: ChildProcess): Promise<void> {
  const pid = child.pid ?? -1;
  if (!alive(pid)) return;
  child.kill("SIGTERM");
  await waitFor("QEMU to exit", () => !alive(pid), 10_000).catch(() => {
    if (alive(pid)) child.kill("SIGKILL");
  });
}

/**
 * Boots the cached image. KVM is tried first when /dev/kvm is usable, but a nested guest may hang
 * before its kernel prints anything: without a "Linux version" line on the serial console within
 * 10 s it is stopped and the boot starts again with TCG. ROOTLESS_TEST_VM_ACCEL=tcg|kvm forces one.
 */
export async function bootVm(
  guestPorts: readonly number[],
  bootTimeoutMs = 360_000,
): Promise<BootedVm> {
  const forced = process.env["ROOTLESS_TEST_VM_ACCEL"];
  const ports = new Map<number, number>();
  const sshPort = await freePort();
  for (const guest of guestPorts) ports.set(guest, await freePort());
  const hostfwd = [
    `hostfwd=tcp:127.0.0.1:${sshPort}-:22`,
    ...[...ports].map(([guest, host]) => `hostfwd=tcp:127.0.0.1:${host}-:${guest}`),
  ];
  const work = mkdtempSync(join(tmpdir(), "rootless-exporter-vm-"));
  const serialLog = join(work, "serial.log");
  const started = Date.now();
  let accel: "kvm" | "tcg" = forced === "kvm" || (forced !== "tcg" && kvmUsable()) ? "kvm" : "tcg";
  let qemuProcess = startQemu(accel, hostfwd, serialLog);
  if (accel === "kvm" && forced !== "kvm") {
    const printed = () =>
      existsSync(serialLog) && readFileSync(serialLog, "utf8").includes("Linux version");
    const booted = await waitFor("the kernel under KVM", printed, 10_000).then(
      () => true,
      () => false,
    );
    if (!booted) {
      await stopPid(qemuProcess.child);
      accel = "tcg";
      rmSync(serialLog, { force: true });
      qemuProcess = startQemu(accel, hostfwd, serialLog);
    }
  }
  const { child, output } = qemuProcess;
  const pid = child.pid ?? -1;
  // A worker that exits without reaching afterAll must not leave QEMU behind (a SIGKILL still can).
  const onExit = () => {
    if (alive(pid)) child.kill("SIGKILL");
  };
  process.on("exit", onExit);
  const stop = async () => {
    process.off("exit", onExit);
    await stopPid(child);
    rmSync(work, { recursive: true, force: true }); // kept only when the boot failed (below)
  };
  try {
    await waitFor(
      "ssh into the VM",
      async () => {
        if (child.exitCode !== null) throw new Error(`QEMU exited ${child.exitCode}: ${output()}`);
        return (await runSsh(sshPort, ["true"], 15_000)).code === 0;
      },
      bootTimeoutMs,
    );
  } catch (err) {
    const tail = existsSync(serialLog) ? readFileSync(serialLog, "utf8").slice(-3000) : "";
    process.off("exit", onExit);
    await stopPid(child);
    throw new Error(`${(err as Error).message}\nserial console (${serialLog}):\n${tail}`, {
      cause: err,
    });
  }
  const bootSeconds = (Date.now() - started) / 1000;
  const run = (argv: readonly string[], timeoutMs = 60_000) => runSsh(sshPort, argv, timeoutMs);
  const exec = async (argv: readonly string[], timeoutMs = 60_000) => {
    const result = await run(argv, timeoutMs);
    if (result.code !== 0)
      throw new Error(`${argv.join(" ")} exited ${result.code}: ${result.stderr}${result.stdout}`);
    return result.stdout;
  };
  const pushTree = (tree: string, owner: string, timeoutMs = 300_000) =>
    new Promise<void>((resolve, reject) => {
      const tar = spawn(
        "tar",
        ["-c", "-C", tree, `--owner=${owner}`, `--group=${owner}`, "--", "."],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      const ssh = spawn(
        "ssh",
        [...sshArgs(sshPort, "root"), "tar", "-x", "--no-overwrite-dir", "-C", "/"],
        { stdio: [tar.stdout, "ignore", "pipe"], timeout: timeoutMs },
      );
      let stderr = "";
      ssh.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
      ssh.on("close", (code) =>
        code === 0 ? resolve() : reject(new Error(`pushing ${tree} failed (${code}): ${stderr}`)),
      );
    });
  const sshAs = (user: string, argv: readonly string[]) => {
    const child = spawn(
      "ssh",
      [...sshArgs(sshPort, user), "xargs", "-0", "-x", "--", "env", "--"],
      {
        stdio: ["pipe", "ignore", "ignore"],
      },
    );
    child.stdin?.end(argv.map((a) => `${a}\0`).join(""));
    return child;
  };
  return { pid, accel, bootSeconds, ports, serialLog, run, exec, pushTree, sshAs, stop };
}

/**
 * The exporter as README.md installs it (`cp -r dist node_modules package.json DEST`, after
 * `npm prune --omit=dev`), laid out under `tree` at `dest`: the runtime dependencies only, taken
 * from the project's node_modules by `npm ls --omit=dev`, so the checkout is left as it is.
 */
export function stageExporter(projectRoot: string, tree: string, dest: string): void {
  const target = join(tree, dest);
  mkdirSync(target, { recursive: true });
  cpSync(join(projectRoot, "dist"), join(target, "dist"), { recursive: true });
  cpSync(join(projectRoot, "package.json"), join(target, "package.json"));
  const deps = execFileSync("npm", ["ls", "--omit=dev", "--parseable", "--all"], {
    cwd: projectRoot,
    encoding: "utf8",
  })
    .split("\n")
    .slice(1)
    .filter(Boolean);
  for (const dep of deps) {
    const rel = relative(projectRoot, dep);
    mkdirSync(dirname(join(target, rel)), { recursive: true });
    cpSync(dep, join(target, rel), { recursive: true });
  }
}
