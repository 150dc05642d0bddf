import type { FactsByCollector } from "../collectors/registry.js";
import type { CheckOf, Text } from "./verdict.js";
import { fail, noFacts, pass, text, unknown } from "./verdict.js";
import { quoted } from "./quoted.js";
import { shellQuote } from "./shell-quote.js";
import { daemonDown, notRunning } from "./dockerd-text.js";

/** Reads the docker collector's facts, and the kernel's release for a tmpfs data root. */
type Reads = Pick<FactsByCollector, "docker" | "kernel">;

/** mountinfo's fstype as moby names the backing filesystem (`ext4` is `extfs`). */
function backingName(fsType: string): string {
  if (/^ext[234]$/.test(fsType)) return "extfs";
  if (fsType === "overlay") return "overlayfs";
  if (/^nfs\d?$/.test(fsType)) return "nfs";
  if (fsType === "smb3") return "cifs";
  if (fsType.startsWith("fuse")) return "fuse";
  return fsType;
}

const atLeast = (version: string, major: number, minor: number): boolean | undefined => {
  const m = /^(\d+)\.(\d+)/.exec(version);
  if (!m) return undefined;
  return Number(m[1]) > major || (Number(m[1]) === major && Number(m[2]) >= minor);
};

/**
 * Whether kernel overlayfs can take an upper layer on this filesystem inside a user namespace
 * (moby 42166, docker/for-linux 836): a reason it cannot, "" when it can, undefined when unknown.
 */
function overlayBlocker(
  fs: string,
  facts: Partial<Reads>,
  dtype: boolean | undefined,
): Text | "" | undefined {
  if (dtype === false)
    return text(
      `the ${fs} filesystem gives no entry types (d_type): moby refuses it ("formatted without d_type support")`,
      `${fs} 文件系统不提供目录项类型（d_type）：moby 会拒绝它（"formatted without d_type support"）`,
    );
  const usage = facts.docker?.dataRootUsage;
  switch (fs) {
    case "extfs":
    case "xfs":
    case "btrfs":
    case "f2fs":
      return "";
    case "ecryptfs":
      return text(
        "overlayfs does not accept eCryptfs as its upper layer",
        "overlayfs 不接受 eCryptfs 作为上层",
      );
    case "nfs":
    case "cifs":
    case "ceph":
      return text(
        `overlayfs cannot put its upper layer on the network filesystem ${fs}`,
        `overlayfs 无法把上层放在网络文件系统 ${fs} 上`,
      );
    case "overlayfs":
      return text(
        "the data root is itself on overlayfs (inside a container?), which overlayfs does not take as an upper layer",
        "数据根目录本身位于 overlayfs 上（是否在容器内？），overlayfs 不接受它作为上层",
      );
    case "zfs": {
      const version = usage && "zfsVersion" in usage ? usage.zfsVersion : undefined;
      if (version === undefined) return undefined;
      return atLeast(version, 2, 2)
        ? ""
        : text(
            `OpenZFS ${version} is older than 2.2, the first to support overlayfs`,
            `OpenZFS ${version} 早于 2.2，而 2.2 是第一个支持 overlayfs 的版本`,
          );
    }
    case "tmpfs": {
      const v = facts.kernel?.version;
      if (!v) return undefined;
      // tmpfs has user.* extended attributes, which rootless overlay (userxattr) needs, since 6.6.
      return v.major > 6 || (v.major === 6 && v.minor >= 6)
        ? ""
        : text(
            `tmpfs has no user.* extended attributes before kernel 6.6 (this is ${v.major}.${v.minor}), and rootless overlay needs them`,
            `内核 6.6 之前的 tmpfs 不支持 user.* 扩展属性（当前为 ${v.major}.${v.minor}），而 rootless 模式的 overlay 需要它们`,
          );
    }
    default:
      return undefined;
  }
}

export const dataRootOverlay: CheckOf<Reads> = {
  id: "data_root_overlay",
  severity: "warning",
  scope: "user",
  evaluate: ({ facts }) => {
    const docker = facts.docker;
    if (!docker) return unknown(noFacts("docker"));
    const usage = docker.dataRootUsage;
    const measured = usage && !("unverified" in usage) ? usage : undefined;
    const path = docker.dataRoot?.path ?? usage?.path ?? docker.configured?.dataRoot;
    const fsType = docker.dataRoot?.fsType ?? measured?.fsName ?? docker.configured?.dataRootFs;
    const driver = docker.info?.storageDriver ?? docker.configured?.storageDriver;
    if (path === undefined || fsType === undefined)
      return unknown(daemonDown(docker, "the data root's filesystem", "数据根目录所在的文件系统"));
    const fs = backingName(fsType);
    const dtype =
      measured?.dtype ?? ((docker.info?.warnings?.byId.no_dtype ?? 0) > 0 ? false : undefined);
    const blocker = overlayBlocker(fs, facts, dtype);
    const [where, name] = [quoted(path), quoted(fsType)];
    const configured = docker.configured;
    const clause = docker.info
      ? text("", "")
      : notRunning(
          configured?.storageDriverSource === "daemon.json"
            ? configured.configFile
            : `${path}/${driver ?? ""}`,
        );
    const evidence = { path, fs, driver, ...(dtype !== undefined && { dtype }) };
    if (blocker === "")
      return pass(
        text(
          `The data root ${where} is on ${name}, where overlay works in a user namespace.`,
          `数据根目录 ${where} 位于 ${name} 上，overlay 可在用户命名空间中使用。`,
        ),
        evidence,
      );
    if (blocker === undefined)
      return unknown(
        text(
          `whether overlay works in a user namespace on ${name} under ${where}`,
          `overlay 能否在 ${where} 所在的 ${name} 上于用户命名空间中工作`,
        ),
      );
    if (driver === undefined)
      return pass(
        text(
          `The data root ${where} is on ${name}, where overlay cannot work rootless (${blocker.en}); dockerd is not running and no storage driver is set, so it will not take overlay2 there (its own mount test fails) but fuse-overlayfs or vfs.`,
          `数据根目录 ${where} 位于 ${name} 上，overlay 无法在此以 rootless 模式工作（${blocker["zh-CN"]}）；dockerd 未运行且未设置存储驱动，因此它不会在此选用 overlay2（它自己的挂载测试会失败），而会选用 fuse-overlayfs 或 vfs。`,
        ),
        evidence,
      );
    if (driver !== "overlay2")
      return pass(
        text(
          `The data root ${where} is on ${name}, where overlay cannot work rootless (${blocker.en}), and the daemon uses ${quoted(driver)}, not overlay2${clause.en}.`,
          `数据根目录 ${where} 位于 ${name} 上，overlay 无法在此以 rootless 模式工作（${blocker["zh-CN"]}），而守护进程使用的是 ${quoted(driver)}，不是 overlay2${clause["zh-CN"]}。`,
        ),
        evidence,
      );
    return fail(
      text(
        `The daemon uses overlay2 on ${where}, on ${name}, where overlay cannot work rootless: ${blocker.en}${clause.en}.`,
        `守护进程在 ${where}（位于 ${name} 上）使用 overlay2，而 overlay 无法在此以 rootless 模式工作：${blocker["zh-CN"]}${clause["zh-CN"]}。`,
      ),
      text(
        `Move the data root to a local ext4, XFS (made with ftype=1) or btrfs filesystem: \`{"data-root":"/path/on/a/local/disk"}\` in ~/.config/docker/daemon.json; or keep it and set \`{"storage-driver":"fuse-overlayfs"}\` there (package fuse-overlayfs). Then run \`systemctl --user restart docker\`; \`stat -f ${shellQuote(path)}\` shows the filesystem.`,
        `把数据根目录迁移到本地的 ext4、XFS（使用 ftype=1 创建）或 btrfs 文件系统：在 ~/.config/docker/daemon.json 中写入 \`{"data-root":"/path/on/a/local/disk"}\`；或者保留它，并在该文件中设置 \`{"storage-driver":"fuse-overlayfs"}\`（软件包 fuse-overlayfs）。然后运行 \`systemctl --user restart docker\`；\`stat -f ${shellQuote(path)}\` 可查看文件系统类型。`,
      ),
      evidence,
    );
  },
};
