import type { FactsByCollector } from "../collectors/registry.js";
import type { CheckOf } from "./verdict.js";
import { fail, noFacts, pass, text, unknown } from "./verdict.js";
import { quoted } from "./quoted.js";
import { reasonText } from "./reasons.js";
import { configUnusable, daemonDown, notRunning } from "./dockerd-text.js";

/** Reads the docker and kernel collectors' facts. */
type Reads = Pick<FactsByCollector, "docker" | "kernel">;

export const storageDriver: CheckOf<Reads> = {
  id: "storage_driver",
  severity: "critical",
  scope: "user",
  evaluate: ({ facts }) => {
    const configured = facts.docker?.configured;
    const running = facts.docker?.info?.storageDriver;
    const driver = running ?? configured?.storageDriver;
    const verdicts = facts.kernel?.storageDrivers as
      Record<string, { ok: boolean; reason: string } | undefined> | undefined;
    if (!driver && configured?.dataRoot !== undefined && verdicts) {
      // dockerd, started with nothing configured and no prior driver, takes the first that works.
      const first = ["overlay2", "fuse-overlayfs", "vfs"].find((d) => verdicts[d]?.ok) ?? "vfs";
      const [file, dataRoot] = [quoted(configured.configFile), quoted(configured.dataRoot)];
      return pass(
        text(
          `dockerd is not running; ${file} names no storage-driver and ${dataRoot} holds none yet: dockerd will take the first that works here (${first}).`,
          `dockerd 未运行；${file} 没有指定 storage-driver，${dataRoot} 中也还没有：dockerd 将选用此处第一个可用的驱动（${first}）。`,
        ),
        { driver: first, source: "dockerd's default" },
      );
    }
    if (!driver)
      return unknown(
        configured && configured.configState !== "ok" && configured.configState !== "missing"
          ? configUnusable(configured)
          : daemonDown(facts.docker, "the daemon's storage driver", "守护进程的存储驱动"),
      );
    if (!verdicts) return unknown(noFacts("kernel"));
    const verdict = verdicts[driver];
    const source = running
      ? undefined
      : configured?.storageDriverSource === "daemon.json"
        ? configured.configFile
        : `${configured?.dataRoot ?? ""}/${driver}`;
    const clause = running ? text("", "") : notRunning(source);
    const name = quoted(driver);
    if (verdict?.ok) {
      const reason = reasonText(verdict.reason);
      return pass(
        text(
          `${name} works rootless here (${reason.en})${clause.en}.`,
          `${name} 可在此以 rootless 模式运行（${reason["zh-CN"]}）${clause["zh-CN"]}。`,
        ),
        { driver, ...(source !== undefined && { source }) },
      );
    }
    if (!verdict && ["overlay2", "fuse-overlayfs", "btrfs", "vfs"].includes(driver))
      return unknown(
        text(
          `support for ${name} (the kernel release is unreadable)`,
          `对 ${name} 的支持（无法读取内核版本）`,
        ),
      );
    const why =
      verdict?.reason ?? "rootless mode supports only overlay2, fuse-overlayfs, btrfs and vfs";
    const whyText = reasonText(why);
    return fail(
      text(
        `The daemon uses ${name}${clause.en}, which cannot work rootless here: ${whyText.en}.`,
        `守护进程使用 ${name}${clause["zh-CN"]}，它无法在此以 rootless 模式工作：${whyText["zh-CN"]}。`,
      ),
      text(
        'Use a supported driver: overlay2 (kernel 5.11 or newer), fuse-overlayfs (kernel 4.18 or newer, `sudo apt-get install -y fuse-overlayfs` or `sudo dnf install -y fuse-overlayfs`), btrfs, or vfs; set it in ~/.config/docker/daemon.json (`{"storage-driver":"fuse-overlayfs"}`) and restart the daemon.',
        '仅支持以下存储驱动：overlay2（仅在内核 5.11 或更高版本上）、fuse-overlayfs（内核 4.18 或更高版本，且已安装 `fuse-overlayfs`）、btrfs、vfs；在 ~/.config/docker/daemon.json 中设置（`{"storage-driver":"fuse-overlayfs"}`）并重启守护进程。',
      ),
      { driver, reason: why },
    );
  },
};
