// The D-Bus side of a host with a user session, for bench/cycle.mjs on a machine without systemd
// as PID 1: two private dbus-daemons (a system bus and a user bus) serving the test doubles of
// logind (linger on for UID) and of the user's systemd (docker.service, dbus.service and
// dbus.socket active). Prints the two addresses to export, then serves until SIGINT/SIGTERM.
//   node bench/dbus-peers.mjs UID
// Needs dbus-daemon and a built checkout's devDependencies (it compiles test/helpers/dbus.ts).
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const uid = Number(process.argv[2]);
if (!Number.isInteger(uid) || uid < 0) {
  console.error("usage: node bench/dbus-peers.mjs UID");
  process.exit(2);
}
const project = join(dirname(fileURLToPath(import.meta.url)), "..");
const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-dbus-peers-"));
chmodSync(dir, 0o755); // the benchmarked user connects to the sockets in it
execFileSync(
  join(project, "node_modules/.bin/tsc"),
  [
    "--outDir",
    dir,
    "--module",
    "NodeNext",
    "--moduleResolution",
    "NodeNext",
    "--target",
    "ES2022",
    "--skipLibCheck",
    "--types",
    "node",
    join(project, "test/helpers/dbus.ts"),
  ],
  { stdio: "inherit" },
);
symlinkSync(join(project, "node_modules"), join(dir, "node_modules"));
const { Login1Double, Systemd1Double, startPrivateBus } = await import(join(dir, "dbus.js"));

const system = await startPrivateBus(dir, "system");
const user = await startPrivateBus(dir, "user");
chmodSync(system.socket, 0o777);
chmodSync(user.socket, 0o777);
const login1 = new Login1Double();
login1.linger.set(uid, true);
await login1.serve(system.address);
const systemd1 = new Systemd1Double();
for (const unit of ["docker.service", "dbus.service", "dbus.socket"])
  systemd1.states.set(unit, "active");
await systemd1.serve(user.address);
console.log(`DBUS_SYSTEM_BUS_ADDRESS=${system.address}`);
console.log(`DBUS_SESSION_BUS_ADDRESS=${user.address}`);

const stop = async () => {
  login1.stop();
  systemd1.stop();
  await Promise.all([system.stop(), user.stop()]);
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
