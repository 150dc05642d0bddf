import type { CheckOf } from "../../checks/verdict.js";
import { fail, noFacts, pass, text, unknown } from "../../checks/verdict.js";
import { quoted } from "../../checks/quoted.js";
import { reasonText } from "../../checks/reasons.js";
import type { DbusFacts } from "./dbus.js";

type Own = { readonly dbus: DbusFacts };

export const dbusUserBus: CheckOf<Own> = {
  id: "dbus_user_bus",
  severity: "warning",
  scope: "user",
  evaluate: ({ facts }) => {
    const dbus = facts.dbus;
    if (!dbus) return unknown(noFacts("dbus"));
    const address = quoted(dbus.address);
    if (dbus.busUp)
      return pass(text(`The user bus at ${address} answers.`, `${address} 上的用户总线有响应。`), {
        address: dbus.address,
      });
    const error = dbus.error ? reasonText(dbus.error) : undefined;
    return fail(
      text(
        `The user bus at ${address} does not answer${error ? ` (${error.en})` : ""}: on cgroup v2, \`docker run\` fails with "read unix @->/run/systemd/private: connection reset by peer".`,
        `${address} 上的用户总线没有响应${error ? `（${error["zh-CN"]}）` : ""}：在 cgroup v2 主机上，\`docker run\` 会报错 "read unix @->/run/systemd/private: connection reset by peer"。`,
      ),
      text(
        "Run `sudo apt-get install -y dbus-user-session` or `sudo dnf install -y dbus-daemon`, then log in again. If it still fails, run `systemctl --user enable --now dbus` (without sudo).",
        "请运行 `sudo apt-get install -y dbus-user-session` 或 `sudo dnf install -y dbus-daemon`，然后重新登录。如果错误仍然存在，请尝试运行 `systemctl --user enable --now dbus`（无需 sudo）。",
      ),
      { address: dbus.address, error: dbus.error },
    );
  },
};
