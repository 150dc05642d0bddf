import type { FactsByCollector } from "../collectors/registry.js";
import type { CheckOf } from "./verdict.js";
import { fail, noFacts, pass, text, unknown } from "./verdict.js";
import { quoted } from "./quoted.js";

/**
 * The guide's RHEL tip ("you may need `sudo dnf install -y iptables`"): rootless dockerd runs
 * iptables inside its namespace and does not start without it, unless run with --iptables=false.
 */
/** Reads the kernel and docker collectors' facts. */
type Reads = Pick<FactsByCollector, "kernel" | "docker">;

export const iptablesBinary: CheckOf<Reads> = {
  id: "iptables_binary",
  severity: "critical",
  scope: "user",
  evaluate: ({ facts }) => {
    const kernel = facts.kernel;
    if (!kernel) return unknown(noFacts("kernel"));
    const path = kernel.iptables?.path;
    if (path)
      return pass(
        text(`iptables is installed (${quoted(path)}).`, `iptables 已安装（${quoted(path)}）。`),
        {
          path,
        },
      );
    // A dockerd that runs without the binary was started with --iptables=false.
    if (facts.docker?.dockerdUp)
      return pass(
        text(
          "iptables is not installed, and dockerd runs without it (`--iptables=false`).",
          "iptables 未安装，dockerd 在没有它的情况下运行（`--iptables=false`）。",
        ),
        { path: null, dockerdUp: true },
      );
    return fail(
      text(
        "iptables is in none of /usr/sbin, /sbin, /usr/bin, /bin, /usr/local/bin and /usr/local/sbin: rootless dockerd fails to start unless run with `--iptables=false`.",
        "/usr/sbin、/sbin、/usr/bin、/bin、/usr/local/bin 和 /usr/local/sbin 中都没有 iptables：除非以 `--iptables=false` 运行，否则 rootless dockerd 无法启动。",
      ),
      text(
        "Install it: `sudo apt-get install -y iptables` (Debian, Ubuntu), `sudo dnf install -y iptables` (RHEL, CentOS, Fedora), `sudo zypper install -y iptables` (openSUSE, SLES) or `sudo pacman -S --noconfirm iptables` (Arch Linux); then restart the daemon.",
        "请安装：`sudo apt-get install -y iptables`（Debian、Ubuntu）、`sudo dnf install -y iptables`（RHEL、CentOS、Fedora）、`sudo zypper install -y iptables`（openSUSE、SLES）或 `sudo pacman -S --noconfirm iptables`（Arch Linux），然后重启守护进程。",
      ),
      { path: null },
    );
  },
};
