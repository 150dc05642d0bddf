import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { FakeProcfs } from "./procfs.js";

// The host of accounts the roster tests share (targets.test.ts, lastrev-runtime-dir.test.ts):
// system users, users with subordinate IDs by name or uid, a lingering one, one with a runtime
// dir, one below UID_MIN; /run/user/1003 and /run/user/0 exist.

export const passwd = [
  "root:x:0:0:root:/root:/bin/bash",
  "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin",
  "svc:x:999:999::/var/lib/svc:/usr/sbin/nologin",
  "subonly:x:1001:1001::/home/subonly:/bin/bash",
  "lingers:x:1002:1002::/home/lingers:/bin/bash",
  "rundir:x:1003:1003::/home/rundir:/bin/bash",
  "kit:x:1004:1004::/home/kit:/bin/bash",
  "excluded:x:1005:1005::/home/excluded:/bin/bash",
  "byuid:x:1006:1006::/home/byuid:/bin/bash",
  "nothing:x:1007:1007::/home/nothing:/bin/bash",
  "low:x:900:900::/home/low:/bin/bash",
].join("\n");

/** A new fake host with those accounts (the caller cleans it up). */
export function accountsHost(): FakeProcfs {
  const procfs = new FakeProcfs();
  procfs.writeRoot("/etc/passwd", `${passwd}\n`);
  procfs.writeRoot("/etc/group", "root:x:0:\nsubonly:x:1001:\nusers:x:100:subonly,kit\n");
  procfs.writeRoot("/etc/login.defs", "# comment\nUID_MIN\t\t\t 1000\nUID_MAX 60000\n");
  procfs.writeRoot(
    "/etc/subuid",
    "subonly:100000:65536\nexcluded:300000:65536\nlow:400000:65536\n1006:500000:65536\nghost:600000:65536\n",
  );
  procfs.writeRoot("/etc/subgid", "subonly:100000:65536\n");
  procfs.writeRoot("/var/lib/systemd/linger/lingers", "");
  mkdirSync(join(procfs.roots.rootfs, "run/user/1003"), { recursive: true });
  mkdirSync(join(procfs.roots.rootfs, "run/user/0"), { recursive: true });
  return procfs;
}
