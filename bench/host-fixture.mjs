// The generated host of bench/host-mode.mjs: `users` accounts in /etc/passwd and /etc/subuid,
// the first `live` of them with a rootless daemon's process tree (rootlesskit parent and child,
// dockerd, slirp4netns) in a generated procfs and a runtime dir with docker.pid. Needs root
// (procfs owners are chowned). Also the host-mode Watch the benches run over it (hostMode).
import { chmodSync, chownSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";

const write = (path, text) => {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, text);
};
const firstUid = 2000;

/** Writes the host under `dir` and returns its roots and user names. */
export function generateHost(dir, userCount, liveCount) {
  // Passable by the users, as / is: a 0700 mkdtemp dir would make every user path foreign_owner.
  chmodSync(dir, 0o755);
  const roots = { procfs: join(dir, "proc"), sysfs: join(dir, "sys"), rootfs: join(dir, "root") };
  const names = Array.from({ length: userCount }, (_, i) => `user${String(i).padStart(5, "0")}`);
  write(join(roots.rootfs, "etc/login.defs"), "UID_MIN 1000\n");
  write(
    join(roots.rootfs, "etc/passwd"),
    [
      "root:x:0:0:root:/root:/bin/bash",
      ...names.map((n, i) => `${n}:x:${firstUid + i}:${firstUid + i}::/home/${n}:/bin/bash`),
    ].join("\n") + "\n",
  );
  write(
    join(roots.rootfs, "etc/group"),
    ["root:x:0:", ...names.map((n, i) => `${n}:x:${firstUid + i}:`)].join("\n") + "\n",
  );
  const ranges = names.map((n, i) => `${n}:${100000 + i * 65536}:65536`).join("\n") + "\n";
  write(join(roots.rootfs, "etc/subuid"), ranges);
  write(join(roots.rootfs, "etc/subgid"), ranges);
  write(join(roots.procfs, "stat"), "cpu  1 2 3 4\nbtime 1700000000\n");
  write(join(roots.procfs, "locks"), "");
  write(join(roots.procfs, "sys/kernel/osrelease"), "6.1.0-28-amd64\n");
  write(join(roots.procfs, "sys/net/ipv4/ping_group_range"), "0\t2147483647\n");
  write(join(roots.procfs, "sys/user/max_user_namespaces"), "63704\n");
  write(
    join(roots.procfs, "modules"),
    "ip_tables 36864 0 - Live 0x0\noverlay 151552 0 - Live 0x0\n",
  );
  write(join(roots.sysfs, "fs/cgroup/cgroup.controllers"), "cpuset cpu io memory pids\n");
  let pid = 10000;
  for (let i = 0; i < liveCount; i++) {
    const uid = firstUid + i;
    const run = `/run/user/${uid}`;
    const stateDir = `${run}/dockerd-rootless`;
    const [parent, child, dockerd, slirp] = [pid, pid + 1, pid + 2, pid + 3];
    pid += 4;
    const proc = (p, ppid, comm, exe, argv, children = []) => {
      const base = join(roots.procfs, String(p));
      const fields = ["S", ppid, p, p, 0, -1, 0, 0, 0, 0, 0, 150, 50, 0, 0, 20, 0, 1, 0];
      write(join(base, "stat"), `${p} (${comm}) ${fields.join(" ")} ${5000 + p} 1000 200 0\n`);
      write(
        join(base, "status"),
        `Name:\t${comm}\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\nNSpid:\t${p}\nVmRSS:\t4096 kB\n`,
      );
      write(join(base, "cmdline"), `${argv.join("\0")}\0`);
      write(join(base, "comm"), `${comm}\n`);
      write(join(base, "task", String(p), "children"), children.join(" "));
      write(
        join(base, "net/dev"),
        "Inter-|\n face |\n  tap0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n",
      );
      write(join(base, "uid_map"), `0 ${uid} 1\n1 ${100000 + i * 65536} 65536\n`);
      write(join(base, "gid_map"), `0 ${uid} 1\n1 ${100000 + i * 65536} 65536\n`);
      symlinkSync(exe, join(base, "exe"));
      chownSync(base, uid, uid);
    };
    proc(
      parent,
      1,
      "rootlesskit",
      "/usr/bin/rootlesskit",
      [
        "rootlesskit",
        "--net=slirp4netns",
        "--mtu=65520",
        `--state-dir=${stateDir}`,
        "--port-driver=builtin",
        "dockerd",
      ],
      [child, slirp],
    );
    proc(child, parent, "exe", "/usr/bin/rootlesskit", ["rootlesskit"], [dockerd]);
    proc(dockerd, child, "dockerd", "/usr/sbin/dockerd", ["dockerd"]);
    proc(slirp, parent, "slirp4netns", "/usr/bin/slirp4netns", [
      "slirp4netns",
      "--mtu",
      "65520",
      String(child),
      "tap0",
    ]);
    for (const [file, text] of [
      ["docker.pid", `${dockerd}\n`],
      ["dockerd-rootless/child_pid", String(child)],
      ["dockerd-rootless/lock", ""],
    ]) {
      const path = join(roots.rootfs, run, file);
      write(path, text);
      chownSync(path, uid, uid);
    }
    chownSync(join(roots.rootfs, run, "dockerd-rootless"), uid, uid);
    chownSync(join(roots.rootfs, run), uid, uid);
  }
  // HOST_BENCH_HOMES=1: every user has a home of their own (0700, empty), as on a real host, so
  // the walks into it (~/.config/docker/daemon.json, ~/.docker/config.json...) go past /home.
  if (process.env.HOST_BENCH_HOMES === "1")
    for (const [i, n] of names.entries()) {
      mkdirSync(join(roots.rootfs, "home"), { recursive: true, mode: 0o755 });
      const home = join(roots.rootfs, "home", n);
      mkdirSync(home, { mode: 0o700 });
      chownSync(home, firstUid + i, firstUid + i);
    }
  return { roots, names };
}

/**
 * How the system unit in the checkout `root` starts node: `env`, its `Environment=` lines, and
 * `nodeArgs`, the options its `ExecStart=` gives node before the script (`ExecStart=node
 * --flag... /opt/rootless-exporter/dist/main.js`); both empty for a checkout without the unit.
 * A bench starts its daemon as `node ...nodeArgs <root>/dist/main.js ...` with `env` added.
 */
export function unitCommand(root) {
  let unit;
  try {
    unit = readFileSync(join(root, "deploy/systemd/rootless-exporter.service"), "utf8");
  } catch {
    return { env: {}, nodeArgs: [] };
  }
  const env = {};
  let nodeArgs = [];
  for (const line of unit.split("\n")) {
    const match = /^Environment=([A-Za-z_][A-Za-z0-9_]*)=(\S*)$/.exec(line.trim());
    if (match) env[match[1]] = match[2];
    const exec = /^ExecStart=node((?:\s+--\S+)*)\s+\S*dist\/main\.js\b/.exec(line.trim());
    if (exec) nodeArgs = exec[1].split(/\s+/).filter(Boolean);
  }
  return { env, nodeArgs };
}

/** `unitCommand(...)` as one line of text, for a bench to print what it applied. */
export function unitCommandText({ env, nodeArgs }) {
  const parts = [...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...nodeArgs];
  return parts.join(" ") || "none";
}

/** The --path.* flags that point an exporter at a generated host's roots. */
export function rootFlags(roots) {
  return [
    `--path.procfs=${roots.procfs}`,
    `--path.sysfs=${roots.sysfs}`,
    `--path.rootfs=${roots.rootfs}`,
  ];
}

/**
 * The exporter built in the checkout `root` (after `npm run build`): its `dist` modules, its
 * MetricsRenderer, and `watch(roots, extra, options)`, a host-mode Watch over a generated host
 * (--collect.rpc-timeout=200ms, then the `extra` flags; a trigger that never fires: the bench runs
 * the cycles; `options` added to Watch.create's, e.g. onChange).
 */
export async function hostMode(root) {
  const dist = (path) => import(join(root, "dist", path));
  const [{ parseCommandLine }, { collectorList, collectors }, { Watch }, { MetricsRenderer }] =
    await Promise.all([
      dist("cli.js"),
      dist("collectors/registry.js"),
      dist("exporter/schedule/watch.js"),
      dist("exporter/render/renderer.js"),
    ]);
  const log = pino({ level: "silent" });
  const watch = (roots, extra = [], options = {}) => {
    const flags = [...rootFlags(roots), "--collect.rpc-timeout=200ms", ...extra];
    const { config } = parseCommandLine(flags, {}, collectorList);
    return Watch.create({
      config,
      collectors,
      env: {},
      log,
      trigger: () => ({ stop() {} }),
      ...options,
    });
  };
  return { dist, MetricsRenderer, watch };
}
