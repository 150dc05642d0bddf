import {
  chmodSync,
  lchownSync,
  mkdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { clientCollector } from "../../src/collectors/client/client.js";
import { dbusCollector } from "../../src/collectors/dbus/dbus.js";
import { dockerCollector } from "../../src/collectors/docker/docker.js";
import { networkCollector } from "../../src/collectors/network/network.js";
import { rootlesskitCollector } from "../../src/collectors/rootlesskit/rootlesskit.js";
import type { Target } from "../../src/host/target.js";
import { firstMissing, requireOnCi, withReason } from "../helpers/prerequisites.js";
import { CountedScheduler, ReuseUser, watchUser } from "../helpers/reuse-user.js";

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
    const user = new ReuseUser("reuser", uid);
    const runs = new CountedScheduler<Name>(counted);
    const { mkdirOwn, writeOwn } = user;
    const { cycle, facts, none, all } = runs;
    let target: Target;
    let procfs: string;

    watchUser(user, runs, () => {
      ({ target, procfs } = user);
      mkdirOwn(target.home);
    });
    beforeAll(() => runs.scheduler.runAll());

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
