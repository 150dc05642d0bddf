import type { FactsByCollector } from "../collectors/registry.js";
import type { CheckOf } from "./verdict.js";
import { fail, pass, text, unknown } from "./verdict.js";
import { quoted } from "./quoted.js";

/** Reads the dbus and kernel collectors' facts. */
type Reads = Pick<FactsByCollector, "dbus" | "kernel">;

export const dockerService: CheckOf<Reads> = {
  id: "docker_service",
  severity: "warning",
  scope: "user",
  evaluate: ({ facts }) => {
    const unit = facts.dbus?.units?.find((u) => u.unit === "docker.service");
    // Without systemd as init there is no user manager: the guide starts dockerd-rootless.sh by hand.
    if (!unit?.activeState && facts.kernel?.systemdBooted === false)
      return pass(
        text(
          "systemd is not the init system here (no /run/systemd/system): docker.service does not apply, and `dockerd_running` judges the daemon.",
          "此主机的 init 系统不是 systemd（没有 /run/systemd/system）：docker.service 不适用，由 `dockerd_running` 检查守护进程。",
        ),
        { applicable: false },
      );
    if (!unit?.activeState)
      return unknown(
        text(
          "the state of docker.service (no systemd user manager answered on the user bus)",
          "docker.service 的状态（用户总线上没有 systemd 用户管理器响应）",
        ),
      );
    if (unit.activeState === "active")
      return pass(text("docker.service is active.", "docker.service 处于活动状态。"));
    return fail(
      text(
        `docker.service of the user manager is ${quoted(unit.activeState)}.`,
        `用户管理器中的 docker.service 状态为 ${quoted(unit.activeState)}。`,
      ),
      text(
        "Run `systemctl --user enable --now docker` and see `journalctl --user -u docker` for why it stopped.",
        "运行 `systemctl --user enable --now docker`，并查看 `journalctl --user -u docker` 了解其停止原因。",
      ),
      { activeState: unit.activeState },
    );
  },
};
