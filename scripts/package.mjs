// `npm run package`: build/rootless-exporter_<version>_amd64.deb, carrying its own Node.js under
// /usr/lib/rootless-exporter, from the repository alone. Reproducible: the same commit, Node
// binary and node_modules give the same bytes (every mtime is SOURCE_DATE_EPOCH, owners root,
// modes normalised; dpkg-deb sorts the members). Programs run with argument vectors, no shell.
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const run = (file, args, options = {}) =>
  execFileSync(file, args, { cwd: root, encoding: "utf8", ...options }).trim();

const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const commit = run("git", ["rev-parse", "--short=7", "HEAD"]);
// Build files the package step writes are ignored; anything else uncommitted marks the version.
const dirty = run("git", ["status", "--porcelain", "--untracked-files=no"]) !== "";
const version = `${pkg.version}+g${commit}${dirty ? ".dirty" : ""}`;
const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? run("git", ["log", "-1", "--format=%ct"]));
// --out=DIR (default build/), --compression=xz|zstd (xz: the smallest; zstd: a fast build for
// tests of the bytes), --force to rebuild a clean commit's package that is already there.
const option = (name, fallback) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const out = option("out", join(root, "build"));
const compression = option("compression", "xz");
if (!["xz", "zstd"].includes(compression))
  throw new Error(`--compression=${compression}: xz or zstd`);
const stage = join(out, "deb");
const deb = join(out, `rootless-exporter_${version}_amd64.deb`);
// Same commit, same bytes: a clean commit's package is built once.
if (!dirty && compression === "xz" && !process.argv.includes("--force") && existsSync(deb)) {
  console.log(deb);
  process.exit(0);
}
const lib = join(stage, "usr/lib/rootless-exporter");

rmSync(stage, { recursive: true, force: true });
mkdirSync(lib, { recursive: true });

// The runtime: the Node.js that runs this script (the build machine's Node 20).
if (!process.version.startsWith("v20."))
  throw new Error(`Node 20 expected, not ${process.version}`);
copyFileSync(process.execPath, join(lib, "node"));
cpSync(join(root, "dist"), join(lib, "dist"), { recursive: true });
writeFileSync(
  join(lib, "package.json"),
  `${JSON.stringify({ ...pkg, version, devDependencies: undefined, scripts: undefined }, null, 2)}\n`,
);
// Production dependencies only, as npm installed them from package-lock.json.
const deps = run("npm", ["ls", "--omit=dev", "--parseable", "--all"]).split("\n").slice(1);
for (const dep of deps) cpSync(dep, join(lib, relative(root, dep)), { recursive: true });
// bcrypt's prebuilt addon for this platform (glibc x86-64) only; its sources and tests are not needed.
const bcrypt = join(lib, "node_modules/bcrypt");
for (const name of readdirSync(join(bcrypt, "prebuilds")))
  if (name !== "linux-x64") rmSync(join(bcrypt, "prebuilds", name), { recursive: true });
rmSync(join(bcrypt, "prebuilds/linux-x64/bcrypt.musl.node"));
for (const name of ["src", "test", "examples", "Dockerfile", "Dockerfile-alpine", "build-all.sh"])
  rmSync(join(bcrypt, name), { recursive: true, force: true });

const put = (path, text, mode = 0o644) => {
  mkdirSync(dirname(join(stage, path)), { recursive: true });
  writeFileSync(join(stage, path), text);
  chmodSync(join(stage, path), mode);
};
// The system unit as shipped in deploy/, run by the package's own Node.
const unit = readFileSync(join(root, "deploy/systemd/rootless-exporter.service"), "utf8");
const execStart = "ExecStart=node /opt/rootless-exporter/dist/main.js";
if (!unit.includes(execStart)) throw new Error(`deploy/systemd unit has no "${execStart}"`);
put(
  "lib/systemd/system/rootless-exporter.service",
  unit
    .replace(
      execStart,
      "ExecStart=/usr/lib/rootless-exporter/node /usr/lib/rootless-exporter/dist/main.js",
    )
    .replace(
      'Install: see README.md ("Run on a fleet").',
      "Installed by the rootless-exporter package.",
    ),
);
put(
  "etc/default/rootless-exporter",
  [
    "# Flags of rootless-exporter, as variables (see `rootless-exporter --help`): each",
    "# --flag.name=value may be set as ROOTLESS_EXPORTER_FLAG_NAME=value. Restart the unit after",
    "# editing: systemctl restart rootless-exporter",
    "#ROOTLESS_EXPORTER_WEB_LISTEN_ADDRESS=:10049",
    "#ROOTLESS_EXPORTER_TARGET_EXCLUDE=ci-runner,build",
    "",
  ].join("\n"),
);
// The command line for operators: `rootless-exporter check`, `--help`.
put(
  "usr/bin/rootless-exporter",
  '#!/bin/sh\nexec /usr/lib/rootless-exporter/node /usr/lib/rootless-exporter/dist/main.js "$@"\n',
  0o755,
);
put(
  "usr/share/doc/rootless-exporter/copyright",
  `rootless-exporter ${version}: Apache-2.0. Carries Node.js ${process.version} (MIT and the\n` +
    "licences in its LICENSE) and the npm packages under /usr/lib/rootless-exporter/node_modules,\n" +
    "each with its own licence file.\n",
);

// Maintainer scripts: enable and start on install, restart on upgrade, stop and disable on removal.
const maint = (name, body) => put(`DEBIAN/${name}`, `#!/bin/sh\nset -e\n${body}`, 0o755);
maint(
  "postinst",
  `if [ "$1" = configure ] || [ "$1" = abort-upgrade ]; then
  # Without a running systemd (a chroot, an image build) enable works on the files alone.
  systemctl enable rootless-exporter.service >/dev/null 2>&1 || true
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl restart rootless-exporter.service
  fi
fi
`,
);
maint(
  "prerm",
  `if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
  systemctl stop rootless-exporter.service || true
fi
if [ "$1" = remove ]; then
  systemctl disable rootless-exporter.service >/dev/null 2>&1 || true
fi
`,
);
maint(
  "postrm",
  `if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
`,
);
put("DEBIAN/conffiles", "/etc/default/rootless-exporter\n");

// Fixed modes and times for every path (git and cp leave the umask's and the clock's).
let installedKiB = 0;
const normalise = (path) => {
  const stats = lstatSync(path);
  if (stats.isDirectory()) {
    chmodSync(path, 0o755);
    for (const name of readdirSync(path)) normalise(join(path, name));
  } else if (stats.isFile()) {
    chmodSync(path, stats.mode & 0o111 ? 0o755 : 0o644);
    if (!path.includes("/DEBIAN/")) installedKiB += Math.ceil(stats.size / 1024);
  } else if (!stats.isSymbolicLink()) throw new Error(`not a file or directory: ${path}`);
  if (!stats.isSymbolicLink()) utimesSync(path, epoch, epoch);
};
put(
  "DEBIAN/control",
  "", // written below, once Installed-Size is known
);
normalise(stage);
put(
  "DEBIAN/control",
  `Package: rootless-exporter
Version: ${version}
Architecture: amd64
Maintainer: rootless-exporter <rootless-exporter@users.noreply.github.com>
Installed-Size: ${installedKiB}
Depends: libc6 (>= 2.28), libstdc++6 (>= 8), libgcc-s1
Section: admin
Priority: optional
Homepage: https://github.com/rootless-exporter/rootless-exporter
Description: Prometheus exporter for the health and setup of rootless Docker
 Watches every user of the host who runs rootless Docker (host mode, one system unit) and
 serves /metrics on port 10049. Carries its own Node.js ${process.version}; needs none installed.
`,
);
utimesSync(join(stage, "DEBIAN/control"), epoch, epoch);

rmSync(deb, { force: true });
run("dpkg-deb", ["--root-owner-group", `-Z${compression}`, "--build", stage, deb], {
  env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) },
});
console.log(deb);
