import { execFile, execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
  copyFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningDaemon } from "../helpers/daemon.js";
import { builtMain, projectRoot, startDaemon, valueOf } from "../helpers/daemon.js";
import { expectSoon } from "../helpers/expect-soon.js";
import { firstMissing, requireOnCi, withReason } from "../helpers/prerequisites.js";
import type { TrixieContainer } from "../helpers/trixie.js";
import { startTrixie, trixieMissing, trixieRoot, trixieUserName } from "../helpers/trixie.js";
import type { ContainerDocker } from "../helpers/trixie-docker.js";
import { startContainerDocker } from "../helpers/trixie-docker.js";

// Issue 17: subordinate IDs that do not live in /etc/subuid, and a nested user namespace. Both in
// the Debian 13 root (shadow 4.17's libsubid, getsubids, newuidmap; rootlesskit 2.0.2, whose
// default --subid-source=auto asks getsubids), each on an overlay of its own over the cached root
// (the shared root is never written), in a systemd-nspawn container as the pasta ring runs them.

const run = promisify(execFile);
const inside = "/opt/rootless-exporter";
const moduleName = "rlxtest";
const start = 400000;
const count = 65536;

const missing =
  trixieMissing() ??
  firstMissing(
    [existsSync("/usr/bin/gcc"), "gcc is not installed (the test builds a libsubid module)"],
    [
      existsSync(join(dirname(dirname(builtMain)), "node_modules")),
      "no staged build (ROOTLESS_TEST_MAIN)",
    ],
  );

/** An overlay of the cached root: what a test writes lands in its own upper dir. */
interface Overlay {
  readonly root: string;
  remove(): void;
}

function overlay(lower: string, name: string): Overlay {
  const base = mkdtempSync(`/var/tmp/subid-${name}-`);
  // nspawn names the machine after the directory.
  const root = join(base, `subid-${name}-${process.pid}`);
  for (const dir of ["upper", "work"]) mkdirSync(join(base, dir));
  mkdirSync(root);
  execFileSync("mount", [
    "-t",
    "overlay",
    "overlay",
    "-o",
    `lowerdir=${lower},upperdir=${base}/upper,workdir=${base}/work`,
    root,
  ]);
  return {
    root,
    remove() {
      try {
        execFileSync("umount", [root]);
      } catch {
        execFileSync("umount", ["-l", root]);
      }
      rmSync(base, { recursive: true, force: true });
    },
  };
}

/** The multiarch library dir of the root, where dlopen finds libsubid_<name>.so. */
function libDir(root: string): string {
  const dir = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"].find((d) =>
    existsSync(`${root}${d}/libc.so.6`),
  );
  if (!dir) throw new Error(`no multiarch libc in ${root}`);
  return dir;
}

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function asUser(box: TrixieContainer, argv: readonly string[]): Promise<Ran> {
  const [file = "nsenter", ...rest] = [...box.asUser({}), ...argv];
  return run(file, rest, { timeout: 30_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: typeof e.code === "number" ? e.code : -1,
      stdout: e.stdout ?? "",
      stderr: e.stderr ?? "",
    }),
  );
}

/** The exporter as root in the container, watching the container's user. */
function rootExporter(box: TrixieContainer): Promise<RunningDaemon> {
  return startDaemon(
    [
      `--target.user=${box.user.name}`,
      "--collect.interval=1s",
      "--collect.rpc-timeout=500ms",
      "--collect.timeout=5s",
      "--collector.subid.libsubid-max-age=0s",
      "--log.level=debug",
    ],
    {
      wrapper: [
        "nsenter",
        "-t",
        String(box.leader),
        "-a",
        "--",
        "/usr/bin/setpriv",
        "--pdeathsig=TERM",
        "/usr/bin/env",
        "-i",
        "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
      ],
      node: "/usr/bin/node",
      main: `${inside}/dist/main.js`,
    },
  );
}

interface Finding {
  readonly id: string;
  readonly state: string;
  readonly summary: string;
}

async function finding(exporter: RunningDaemon, id: string): Promise<Finding | undefined> {
  const all = (await (await fetch(exporter.url("/checks"))).json()) as {
    targets: { checks: Finding[] }[];
  };
  return all.targets.flatMap((t) => t.checks).find((c) => c.id === id);
}

const stage = () => dirname(dirname(builtMain));
// unshare(1) runs newuidmap and newgidmap on its child with exactly these ranges.
const mapArgs = (first: number) => [
  "unshare",
  "--user",
  `--map-users=0:${first}:${count}`,
  `--map-groups=0:${first}:${count}`,
  "cat",
  "/proc/self/uid_map",
];

describe.skipIf(requireOnCi(missing))(
  withReason("a libsubid module named by nsswitch.conf, in Debian 13", missing),
  () => {
    let lower: Overlay;
    let box: TrixieContainer;
    let exporter: RunningDaemon;
    let docker: ContainerDocker | undefined;
    let plugin = "";
    const u = () => `user="${box.user.name}"`;

    beforeAll(async () => {
      lower = overlay(trixieRoot ?? "", "plugin");
      const root = lower.root;
      // The module, built here for the container's user.
      plugin = join(dirname(root), `libsubid_${moduleName}.so`);
      execFileSync("gcc", [
        "-shared",
        "-fPIC",
        "-O2",
        "-Wall",
        "-Werror",
        `-DOWNER="${trixieUserName}"`,
        `-DSTART=${start}`,
        `-DCOUNT=${count}`,
        "-o",
        plugin,
        join(projectRoot, "test/helpers/libsubid-plugin.c"),
      ]);
      copyFileSync(plugin, `${root}${libDir(root)}/libsubid_${moduleName}.so`);
      const nsswitch = readFileSync(`${root}/etc/nsswitch.conf`, "utf8");
      writeFileSync(`${root}/etc/nsswitch.conf`, `${nsswitch}\nsubid:          ${moduleName}\n`);
      // Nothing in the files: the module alone answers.
      writeFileSync(`${root}/etc/subuid`, "");
      writeFileSync(`${root}/etc/subgid`, "");
      execFileSync("chroot", [root, "ldconfig"]);
      box = await startTrixie(root, trixieUserName, [{ host: stage(), inside }]);
      await box.exec(["rm", "-rf", `${box.user.home}/.local/share/docker`]);
      exporter = await rootExporter(box);
    }, 60_000);

    afterAll(async () => {
      await exporter?.stop();
      await docker?.stop();
      await box?.stop();
      lower?.remove();
    }, 60_000);

    it("getsubids and newuidmap take the module's ranges while /etc/subuid is empty", async () => {
      expect(readFileSync(`${lower.root}/etc/subuid`, "utf8")).toBe("");
      const uids = await asUser(box, ["getsubids", box.user.name]);
      const gids = await asUser(box, ["getsubids", "-g", box.user.name]);
      expect(uids).toMatchObject({ code: 0, stdout: `0: ${box.user.name} ${start} ${count}\n` });
      expect(gids).toMatchObject({ code: 0, stdout: `0: ${box.user.name} ${start} ${count}\n` });
      const mapped = await asUser(box, mapArgs(start));
      expect(mapped.stderr).toBe("");
      expect(mapped.stdout.trim().split(/\s+/)).toEqual(["0", String(start), String(count)]);
    });

    it("the exporter, as root for the user, reports the module's ranges and no subid failure", async () => {
      const { body } = await expectSoon(
        exporter,
        "the module's ranges",
        (b) =>
          valueOf(b, `rootless_subid_source_info{${u()},kind="uid",source="${moduleName}"}`) ===
            1 &&
          valueOf(b, `rootless_subid_source_info{${u()},kind="gid",source="${moduleName}"}`) ===
            1 &&
          // The findings follow the facts on the next rendering.
          valueOf(b, `rootless_check_ok{${u()},check="subuid_range",severity="critical"}`) !==
            undefined,
        30_000,
      );
      for (const kind of ["uid", "gid"]) {
        expect(valueOf(body, `rootless_subid_range_size{${u()},kind="${kind}"}`)).toBe(count);
        expect(valueOf(body, `rootless_subid_ranges{${u()},kind="${kind}"}`)).toBe(1);
        expect(
          valueOf(body, `rootless_subid_range_outside_parent_map{${u()},kind="${kind}"}`),
        ).toBe(0);
        // Overlaps are not known for a module's ranges: left out, not 0.
        expect(body).not.toContain(`rootless_subid_overlaps{${u()},kind="${kind}"}`);
      }
      for (const check of ["subuid_range", "subgid_range", "subid_parent_map"]) {
        expect(
          valueOf(body, `rootless_check_ok{${u()},check="${check}",severity="critical"}`),
        ).toBe(1);
      }
      expect((await finding(exporter, "subuid_range"))?.summary).toBe(
        `${box.user.name} has ${count} subordinate uids from the libsubid module ${moduleName}.`,
      );
    });

    it("a real rootless Docker starts on the module's ranges with empty /etc/subuid", async () => {
      docker = await startContainerDocker(
        box,
        {
          DOCKERD_ROOTLESS_ROOTLESSKIT_NET: "slirp4netns",
          DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE: "1",
          DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER: "builtin",
        },
        `/run/user/${box.user.uid}`,
      );
      expect((await docker.docker("info", "--format", "{{.SecurityOptions}}")).trim()).toContain(
        "rootless",
      );
      // rootlesskit's child: the user's own uid at 0, then the module's range.
      const maps = docker
        .processTree()
        .map((pid) => {
          try {
            return readFileSync(`/proc/${pid}/uid_map`, "utf8");
          } catch {
            return "";
          }
        })
        .filter((map) => map.includes(String(start)));
      expect(maps[0]?.trim().split(/\s+/)).toEqual([
        "0",
        String(box.user.uid),
        "1",
        "1",
        String(start),
        String(count),
      ]);
      const { body } = await expectSoon(
        exporter,
        "the daemon up",
        (b) => valueOf(b, `rootless_dockerd_up{${u()}}`) === 1,
        30_000,
      );
      expect(
        valueOf(body, `rootless_check_ok{${u()},check="subuid_range",severity="critical"}`),
      ).toBe(1);
      expect(valueOf(body, `rootless_userns_mapped_ids{${u()},kind="uid"}`)).toBe(count + 1);
      await docker.stop();
      docker = undefined;
    }, 180_000);

    it("without the module, libsubid reads the empty files and the subid checks fail, naming the library", async () => {
      unlinkSync(`${lower.root}${libDir(lower.root)}/libsubid_${moduleName}.so`);
      execFileSync("chroot", [lower.root, "ldconfig"]);
      const uids = await asUser(box, ["getsubids", box.user.name]);
      expect(uids.code).toBe(1);
      expect(uids.stderr).toContain(`Error opening libsubid_${moduleName}.so`);
      expect(uids.stderr).toContain("Error fetching ranges");
      const mapped = await asUser(box, mapArgs(start));
      expect(mapped.code).not.toBe(0);
      expect(mapped.stderr).toContain("newuidmap: uid range");
      expect(mapped.stderr).toContain("not allowed");
      const { body } = await expectSoon(
        exporter,
        "the files as the source",
        (b) => valueOf(b, `rootless_subid_source_info{${u()},kind="uid",source="files"}`) === 1,
        30_000,
      );
      for (const kind of ["uid", "gid"]) {
        expect(valueOf(body, `rootless_subid_range_size{${u()},kind="${kind}"}`)).toBe(0);
        expect(
          valueOf(body, `rootless_check_ok{${u()},check="sub${kind}_range",severity="critical"}`),
        ).toBe(0);
      }
      expect(body).not.toContain(`source="${moduleName}"`);
      const check = await finding(exporter, "subuid_range");
      expect(check?.summary).toContain(`cannot use libsubid_${moduleName}.so`);
      expect(check?.summary).toContain("/etc/subuid");
    }, 60_000);
  },
);

describe.skipIf(requireOnCi(missing))(
  withReason("a container whose own uid_map is narrower than the user's range", missing),
  () => {
    let lower: Overlay;
    let box: TrixieContainer;
    let exporter: RunningDaemon;
    const first = 100000;
    const u = () => `user="${box.user.name}"`;

    beforeAll(async () => {
      lower = overlay(trixieRoot ?? "", "nested");
      // The user's range, and a small one inside the container's map for the control.
      const lines = `${trixieUserName}:${first}:${count}\n${trixieUserName}:30000:1000\n`;
      writeFileSync(`${lower.root}/etc/subuid`, lines);
      writeFileSync(`${lower.root}/etc/subgid`, lines);
      // IDs 0-65535 mapped onto the host's own: the root's files keep their owners (ownership
      // off), and the user's range 100000-165535 is outside the container's map.
      box = await startTrixie(
        lower.root,
        trixieUserName,
        [{ host: stage(), inside }],
        false,
        false,
        [`--private-users=0:${count}`, "--private-users-ownership=off"],
      );
      exporter = await rootExporter(box);
    }, 60_000);

    afterAll(async () => {
      await exporter?.stop();
      await box?.stop();
      lower?.remove();
    }, 60_000);

    it("the container maps only 0-65535", () => {
      expect(readFileSync(`/proc/${box.leader}/uid_map`, "utf8").trim().split(/\s+/)).toEqual([
        "0",
        "0",
        String(count),
      ]);
    });

    it("subid_parent_map fails, and a real newuidmap fails the way the check says", async () => {
      const { body } = await expectSoon(
        exporter,
        "the nested-range verdict",
        (b) =>
          valueOf(b, `rootless_check_ok{${u()},check="subid_parent_map",severity="critical"}`) ===
          0,
        30_000,
      );
      for (const kind of ["uid", "gid"]) {
        expect(
          valueOf(body, `rootless_subid_range_outside_parent_map{${u()},kind="${kind}"}`),
        ).toBe(count);
        // The range itself is fine: only the nesting is wrong.
        expect(
          valueOf(body, `rootless_check_ok{${u()},check="sub${kind}_range",severity="critical"}`),
        ).toBe(1);
      }
      const mapped = await asUser(box, mapArgs(first));
      expect(mapped.code).not.toBe(0);
      const kernel = /newuidmap: (write to uid_map failed: [^\n]+)/.exec(mapped.stderr)?.[1];
      expect(kernel).toBe("write to uid_map failed: Operation not permitted");
      const check = await finding(exporter, "subid_parent_map");
      expect(check?.summary).toContain(`"${kernel ?? ""}"`);
      expect(check?.summary).toContain("it maps uids 0-65535 only");
      // A range inside the map goes through, from the same user in the same container.
      const within = await asUser(box, [
        "unshare",
        "--user",
        "--map-users=0:30000:1000",
        "cat",
        "/proc/self/uid_map",
      ]);
      expect(within.stdout.trim().split(/\s+/)).toEqual(["0", "30000", "1000"]);
    }, 60_000);
  },
);
