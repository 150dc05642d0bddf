import { describe, expect, it } from "vitest";
import { reasonText } from "../../src/checks/reasons.js";

// Every wording a collector produces has a Chinese form; anything else is quoted as code.
describe("reasons", () => {
  it.each([
    ["/usr/bin/newuidmap is setuid root", "/usr/bin/newuidmap 是 setuid root"],
    ["/usr/bin/newgidmap has cap_setgid=ep", "/usr/bin/newgidmap 带有 cap_setgid=ep"],
    [
      "/usr/bin/newuidmap is neither setuid root nor has cap_setuid=ep",
      "/usr/bin/newuidmap 既不是 setuid root，也没有 cap_setuid=ep",
    ],
    ["newuidmap is not installed (package uidmap)", "newuidmap 未安装（软件包 uidmap）"],
    [
      "kernel 5.4 < 5.11: rootless overlay2 needs 5.11",
      "内核 5.4 < 5.11：rootless 模式的 overlay2 需要 5.11",
    ],
    ["kernel 6.1 >= 5.11", "内核 6.1 >= 5.11"],
    [
      "kernel 4.15 < 4.18 (unless mounted with user_subvol_rm_allowed)",
      "内核 4.15 < 4.18（除非使用 user_subvol_rm_allowed 挂载选项挂载）",
    ],
    ["fuse-overlayfs is not installed", "未安装 fuse-overlayfs"],
    ["child_pid: no live process 77", "child_pid：进程 77 已不存在"],
    [
      "/tmp/rootlesskit1/lock is held by no live process",
      "没有存活的进程持有 /tmp/rootlesskit1/lock",
    ],
    ["GET /_ping answered 500", "`GET /_ping` 返回了 500"],
    [
      "connect ECONNREFUSED /run/user/1000/docker.sock",
      "`connect ECONNREFUSED /run/user/1000/docker.sock`",
    ],
    ["a `quoted` thing", "`a 'quoted' thing`"],
  ])("%s", (en, zh) => {
    expect(reasonText(en)).toEqual({ en, "zh-CN": zh });
  });
});
