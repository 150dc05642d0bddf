import type { FactsByCollector } from "../collectors/registry.js";
import type { CheckOf, Text, Verdict } from "./verdict.js";
import { fail, pass, text, unknown } from "./verdict.js";
import { quoted } from "./quoted.js";

/** Reads the dbus and kernel collectors' facts. */
type Reads = Pick<FactsByCollector, "dbus" | "kernel">;

type Unit = NonNullable<NonNullable<Reads["dbus"]>["units"]>[number];

/**
 * Judges docker.service as the user manager reports it, except where systemd is not the init
 * system: there is no user manager then (the guide starts dockerd-rootless.sh by hand), and the
 * verdict is a pass that does not apply, saying `what` does not.
 */
function judgeUnit(
  facts: Partial<Reads>,
  what: Text,
  judge: (unit: Unit | undefined) => Verdict,
): Verdict {
  const unit = facts.dbus?.units?.find((u) => u.unit === "docker.service");
  if (unit?.activeState || facts.kernel?.systemdBooted !== false) return judge(unit);
  return pass(
    text(
      `systemd is not the init system here (no /run/systemd/system): ${what.en}`,
      `此主机的 init 系统不是 systemd（没有 /run/systemd/system）：${what["zh-CN"]}`,
    ),
    { applicable: false },
  );
}

export const dockerService: CheckOf<Reads> = {
  id: "docker_service",
  severity: "warning",
  scope: "user",
  evaluate: ({ facts }) =>
    judgeUnit(
      facts,
      text(
        "docker.service does not apply, and `dockerd_running` judges the daemon.",
        "docker.service 不适用，由 `dockerd_running` 检查守护进程。",
      ),
      (unit) => {
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
    ),
};

/** Unit file states in which systemd starts the unit again after a reboot by rules of its own. */
const startedByOthers: readonly string[] = ["static", "indirect", "generated", "alias"];

export const dockerServiceEnabled: CheckOf<Reads> = {
  id: "docker_service_enabled",
  severity: "warning",
  scope: "user",
  evaluate: ({ facts }) =>
    judgeUnit(
      facts,
      text(
        "whether docker.service is enabled does not apply.",
        "docker.service 是否已启用不适用。",
      ),
      (unit) => {
        // Only an active unit is judged here: one that is not running fails `docker_service`.
        if (unit?.activeState !== undefined && unit.activeState !== "active")
          return pass(
            text(
              `docker.service is ${quoted(unit.activeState)}, not active: \`docker_service\` judges it, and whether it is enabled matters once it runs.`,
              `docker.service 的状态为 ${quoted(unit.activeState)}，不是活动状态：由 \`docker_service\` 检查判断；它运行之后才需要判断是否已启用。`,
            ),
            { applicable: false, activeState: unit.activeState },
          );
        if (unit?.activeState === undefined || unit.fileState === undefined)
          return unknown(
            text(
              "the unit file state of docker.service (the systemd user manager did not give its UnitFileState)",
              "docker.service 的单元文件状态（systemd 用户管理器没有给出其 UnitFileState）",
            ),
          );
        const state = quoted(unit.fileState);
        if (unit.fileState === "enabled")
          return pass(
            text(
              "docker.service is active and enabled: it starts again after a reboot.",
              "docker.service 处于活动状态且已启用：重启后它会再次启动。",
            ),
            { fileState: unit.fileState },
          );
        if (startedByOthers.includes(unit.fileState))
          return pass(
            text(
              `docker.service is active and its unit file is ${state}: \`systemctl --user enable\` does not decide whether it starts after a reboot, the units that pull it in do.`,
              `docker.service 处于活动状态，其单元文件状态为 ${state}：重启后是否启动不由 \`systemctl --user enable\` 决定，而由引入它的其他单元决定。`,
            ),
            { fileState: unit.fileState },
          );
        return fail(
          text(
            `docker.service is active but not enabled (its unit file is ${state}): it will not come back after a reboot.`,
            `docker.service 处于活动状态但未启用（其单元文件状态为 ${state}）：重启后它不会再次启动。`,
          ),
          text(
            "Run `systemctl --user enable docker` as this user (without sudo); if the unit is masked, run `systemctl --user unmask docker` first.",
            "请以该用户身份运行 `systemctl --user enable docker`（无需 sudo）；如果该单元已被屏蔽（masked），请先运行 `systemctl --user unmask docker`。",
          ),
          { fileState: unit.fileState },
        );
      },
    ),
};
