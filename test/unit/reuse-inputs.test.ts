import {
  chmodSync,
  lchownSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { UserCollector } from "../../src/collectors/collector.js";
import { clientCollector } from "../../src/collectors/client/client.js";
import { dbusCollector } from "../../src/collectors/dbus/dbus.js";
import { dockerCollector } from "../../src/collectors/docker/docker.js";
import { networkCollector } from "../../src/collectors/network/network.js";
import { rootlesskitCollector } from "../../src/collectors/rootlesskit/rootlesskit.js";
import { HostState } from "../../src/collectors/state.js";
import { Scheduler } from "../../src/exporter/schedule/scheduler.js";
import type { Target } from "../../src/host/target.js";
import { firstMissing, requireOnCi, withReason } from "../helpers/prerequisites.js";

// Issue 19: the inputs keys of the real collectors, on a real tree owned by a user who is not
// the exporter. Each change a collection would see must bring a full run (and the new facts);
// an unchanged idle user is served the last facts (no full run).
const missing = firstMissing([process.getuid?.() === 0, "needs root (files of another uid)"]);

const uid = 61_900;
const counted = {
  docker: dockerCollector,
  network: networkCollector,
  client: clientCollector,
  rootlesskit: rootlesskitCollector,
  dbus: dbusCollector,
} as const;
type Name = keyof typeof counted;

describe.skipIf(requireOnCi(missing))(
  withReason("inputs keys of the real collectors (needs root)", missing),
  () => {
    let base: string;
    let target: Target;
    let procfs: string;
    const calls: Record<string, number> = {};
    let scheduler: Scheduler<Record<Name, unknown>>;
    const own = (path: string): void => lchownSync(path, uid, uid);
    const mkdirOwn = (path: string): void => {
      mkdirSync(path, { mode: 0o700 });
      own(path);
    };
    const writeOwn = (path: string, text: string): void => {
      writeFileSync(path, text);
      own(path);
    };
    /** One cycle; the full runs of each collector in it. */
    const cycle = async (): Promise<Record<string, number>> => {
      const before = { ...calls };
      await scheduler.runAll();
      return Object.fromEntries(
        Object.keys(counted).map((name) => [name, (calls[name] ?? 0) - (before[name] ?? 0)]),
      );
    };
    const facts = (name: Name): Record<string, unknown> =>
      scheduler.targetViews()[0]?.facts[name] as Record<string, unknown>;
    const none = { docker: 0, network: 0, client: 0, rootlesskit: 0, dbus: 0 };
    const all = { docker: 1, network: 1, client: 1, rootlesskit: 1, dbus: 1 };

    beforeAll(async () => {
      base = mkdtempSync(join(tmpdir(), "rootless-exporter-reuse-"));
      chmodSync(base, 0o755);
      procfs = join(base, "proc");
      mkdirSync(procfs);
      mkdirSync(join(base, "u"), { mode: 0o755 });
      target = {
        name: "reuser",
        uid,
        gid: uid,
        groups: [uid],
        home: join(base, "u", "home"),
        runtimeDir: join(base, "u", "run"),
      };
      mkdirOwn(target.home);
      const collectors = Object.fromEntries(
        Object.entries(counted).map(([name, c]) => {
          const collector = c as UserCollector<unknown>;
          const wrapped: UserCollector<unknown> = {
            ...collector,
            collect: (ctx) => {
              calls[name] = (calls[name] ?? 0) + 1;
              return collector.collect(ctx);
            },
          };
          return [name, wrapped];
        }),
      ) as unknown as Record<Name, UserCollector<unknown>>;
      scheduler = new Scheduler<Record<Name, unknown>>({
        collectors,
        settings: Object.keys(counted).map((name) => ({
          name,
          enabled: true,
          intervalSeconds: 15,
        })),
        roots: { procfs, sysfs: join(base, "sys"), rootfs: "/" },
        targets: { wants: (u) => u === uid, resolve: async () => [target] },
        host: new HostState(),
        timeoutMs: 5000,
        rpcTimeoutMs: 200,
        collectorOptions: {},
        env: {},
        log: pino({ level: "silent" }),
        trigger: () => ({ stop: () => undefined }),
      });
      await scheduler.runAll();
    });
    afterAll(async () => {
      await scheduler.stop();
      rmSync(base, { recursive: true, force: true });
    });

    it("serves an unchanged idle user the same facts, without a full run", async () => {
      const before = facts("docker");
      expect(await cycle()).toEqual(none);
      expect(facts("docker")).toBe(before);
    });

    it("sees daemon.json created, rewritten in place with the same size, replaced by rename", async () => {
      mkdirOwn(join(target.home, ".config"));
      mkdirOwn(join(target.home, ".config", "docker"));
      const file = join(target.home, ".config", "docker", "daemon.json");
      writeOwn(file, '{"storage-driver":"vfs"}');
      expect((await cycle()).docker).toBe(1);
      expect(facts("docker")["configured"]).toMatchObject({
        configState: "ok",
        storageDriver: "vfs",
      });
      writeFileSync(file, '{"storage-driver":"zfs"}'); // same size, same inode
      expect((await cycle()).docker).toBe(1);
      expect(facts("docker")["configured"]).toMatchObject({ storageDriver: "zfs" });
      writeOwn(`${file}.new`, '{"storage-driver":"btrfs"}');
      renameSync(`${file}.new`, file);
      expect((await cycle()).docker).toBe(1);
      expect(facts("docker")["configured"]).toMatchObject({ storageDriver: "btrfs" });
      rmSync(file);
      expect((await cycle()).docker).toBe(1);
      expect(facts("docker")["configured"]).toMatchObject({ configState: "missing" });
      // Missing again, as when its key was taken: served again.
      expect((await cycle()).docker).toBe(0);
    });

    it("sees a symlink swapped in where a file was missing", async () => {
      const file = join(target.home, ".config", "docker", "daemon.json");
      symlinkSync("/etc/hostname", file);
      lchownSync(file, uid, uid);
      expect((await cycle()).docker).toBe(1);
      expect(facts("docker")["configured"]).toMatchObject({ configState: "unsafe" });
      rmSync(file);
      await cycle();
    });

    it("sees a symlink swapped in for ~/.local, where the data root was missing", async () => {
      expect(await cycle()).toEqual(none);
      const link = join(target.home, ".local");
      symlinkSync("/usr", link);
      lchownSync(link, uid, uid);
      expect((await cycle()).docker).toBe(1);
      rmSync(link);
      await cycle();
      expect(await cycle()).toEqual(none);
    });

    it("sees ~/.docker/config.json and docker.service created", async () => {
      mkdirOwn(join(target.home, ".docker"));
      writeOwn(join(target.home, ".docker", "config.json"), '{"currentContext":"elsewhere"}');
      expect((await cycle()).client).toBe(1);
      expect(facts("client")["context"]).toMatchObject({ state: "not_found", name: "elsewhere" });
      const units = join(target.home, ".config", "systemd", "user");
      mkdirOwn(join(target.home, ".config", "systemd"));
      mkdirOwn(units);
      writeOwn(
        join(units, "docker.service"),
        "[Service]\nEnvironment=DOCKERD_ROOTLESS_ROOTLESSKIT_NET=pasta\n",
      );
      expect(await cycle()).toMatchObject({ network: 1, client: 1 });
      expect(facts("network")["configured"]).toMatchObject({ driver: "pasta" });
      rmSync(join(target.home, ".docker"), { recursive: true });
      rmSync(join(target.home, ".config", "systemd"), { recursive: true });
      await cycle();
      expect(await cycle()).toEqual(none);
    });

    it("sees a runtime dir created, and reuses the static parts while it is there", async () => {
      mkdirOwn(target.runtimeDir);
      expect(await cycle()).toEqual(all);
      expect(facts("docker")["runtimeDir"]).toMatchObject({ exists: true });
      // Its identity, owner and mode, docker.pid missing: the static parts are served again
      // (refreshed: docker asks its API again); dbus has no key for a user with a runtime dir.
      expect(await cycle()).toEqual({ ...none, dbus: 1 });
      chmodSync(target.runtimeDir, 0o755);
      expect(await cycle()).toEqual(all);
      expect(facts("docker")["runtimeDir"]).toMatchObject({ mode: 0o755 });
      chmodSync(target.runtimeDir, 0o700);
      await cycle();
      rmSync(target.runtimeDir, { recursive: true });
      expect(await cycle()).toEqual(all);
      expect(facts("docker")["runtimeDir"]).toMatchObject({ exists: false });
      expect(await cycle()).toEqual(none);
    });

    it("collects in full while the user has a process, a restart with the same pid included", async () => {
      const proc = join(procfs, "4321");
      mkdirSync(proc);
      writeFileSync(join(proc, "comm"), "sleep\n");
      writeFileSync(
        join(proc, "stat"),
        "4321 (sleep) S 1 4321 4321 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 500 1000 200 0\n",
      );
      lchownSync(proc, uid, uid);
      expect(await cycle()).toEqual(all);
      // The same pid, started later: another process.
      writeFileSync(
        join(proc, "stat"),
        "4321 (sleep) S 1 4321 4321 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 900 1000 200 0\n",
      );
      expect(await cycle()).toEqual(all);
      rmSync(proc, { recursive: true });
      expect(await cycle()).toEqual(all);
      expect(await cycle()).toEqual(none);
    });

    it("sees a mount over the home, and not another user's mount elsewhere", async () => {
      const line = (id: number, point: string, fs: string) =>
        `${id} 1 0:${id} / ${point} rw,relatime shared:${id} - ${fs} ${fs} rw`;
      const table = (...lines: string[]) =>
        writeFileSync(join(procfs, "1", "mountinfo"), `${lines.join("\n")}\n`);
      mkdirSync(join(procfs, "1"), { recursive: true });
      table(line(21, "/", "ext4"));
      expect((await cycle()).docker).toBe(1);
      expect(await cycle()).toEqual(none);
      // Someone else's FUSE mount: not where this user's data root would be.
      table(line(21, "/", "ext4"), line(40, "/home/someone-else/mnt", "fuse.sshfs"));
      expect(await cycle()).toEqual(none);
      // An NFS mount over this user's home: where the data root would be, so a full run.
      table(line(21, "/", "ext4"), line(41, target.home, "nfs4"));
      expect((await cycle()).docker).toBe(1);
      expect(await cycle()).toEqual(none);
      rmSync(join(procfs, "1"), { recursive: true });
      expect((await cycle()).docker).toBe(1);
    });
  },
);
