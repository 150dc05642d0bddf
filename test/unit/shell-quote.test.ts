import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { apparmorUserNs } from "../../src/collectors/kernel/checks.js";
import { privilegedPorts } from "../../src/collectors/kernel/network-checks.js";
import { stateDirStale } from "../../src/collectors/rootlesskit/checks.js";
import { shellQuote } from "../../src/checks/shell-quote.js";
import { linger } from "../../src/collectors/linger/checks.js";
import type { Check } from "../../src/checks/finding.js";
import type { DefaultFacts } from "../helpers/healthy-facts.js";
import { alice, healthyFacts } from "../helpers/healthy-facts.js";

// Run through a real shell below, in a scratch cwd: on unquoted text the injection only writes there.
const hostile = [
  "/tmp/x;$(id>injected)",
  "/tmp/it's here",
  "/tmp/a\nrm -rf /",
  "/tmp/\u202eevil\u2028PASS\r",
  "/tmp/`id`",
  '/tmp/"quoted" $HOME *',
  "",
];

const scratch = mkdtempSync(join(tmpdir(), "shell-quote-"));
afterAll(() => {
  // Nothing pasted may have run: the injection would have written this file.
  expect(existsSync(join(scratch, "injected"))).toBe(false);
  rmSync(scratch, { recursive: true, force: true });
});

/**
 * The words a shell makes of `set -- LINE`, printed back NUL-separated: POSIX sh, or bash for a
 * word with a line break or another invisible character (ANSI-C quoting, $'...').
 */
function wordsOf(line: string): string[] {
  const shell = line.includes("$'") ? "/bin/bash" : "/bin/sh";
  const out = execFileSync(shell, ["-c", `set -- ${line}; printf '%s\\0' "$@"`], {
    encoding: "utf8",
    timeout: 5000,
    cwd: scratch,
  });
  return out.split("\0").slice(0, -1);
}

describe("shellQuote", () => {
  it.each([
    ["/run/user/1000/dockerd-rootless", "/run/user/1000/dockerd-rootless"],
    ["alice@localhost", "alice@localhost"],
    ["/tmp/x;$(id>/tmp/f)", "'/tmp/x;$(id>/tmp/f)'"],
    ["it's", "'it'\\''s'"],
    ["", "''"],
    ["/tmp/a\nb", "$'/tmp/a\\x0ab'"],
    ["/x\u202e'\\", "$'/x\\u202e\\'\\\\'"],
  ])("%j -> %s", (word, quoted) => {
    expect(shellQuote(word)).toBe(quoted);
  });

  it.each(hostile)("%j stays one literal word for the shell", (word) => {
    expect(wordsOf(shellQuote(word))).toEqual([word]);
  });

  it.each(hostile)("%j is written on one line, without invisible characters", (word) => {
    expect(shellQuote(word)).not.toMatch(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u);
  });
});

// The fixes of the checks that name a user-controlled path or name: the command in backticks,
// pasted into a shell, must see the hostile value as one argument and run nothing else.
const fixes: [string, Check, (f: DefaultFacts, value: string) => void, RegExp][] = [
  [
    "state_dir_stale: rm -rf DIR",
    stateDirStale,
    (f, dir) =>
      void (f.rootlesskit = {
        ...f.rootlesskit,
        stateDir: { path: dir, source: "flag" },
        stateDirStale: true,
        staleReason: "dead child",
      }),
    /`rm -rf ((?:[^`]|\n)*)`/,
  ],
  [
    "privileged_ports: setcap ... BINARY",
    privilegedPorts,
    (f, path) =>
      void (f.kernel = {
        ...f.kernel,
        sysctls: { ...f.kernel.sysctls, "net.ipv4.ip_unprivileged_port_start": 1024 },
        rootlesskitBinary: { path, netBindService: false },
      }),
    /`sudo setcap cap_net_bind_service=ep ((?:[^`]|\n)*)`/,
  ],
];

describe("remediation texts quote what a watched user controls", () => {
  for (const [name, check, plant, command] of fixes) {
    it.each(hostile.filter((h) => h !== "" && !h.includes("`")))(`${name}: %j`, (value) => {
      const facts = healthyFacts();
      plant(facts, value);
      const verdict = check.evaluate({ target: alice, facts });
      expect(verdict.state).toBe("fail");
      for (const lang of ["en", "zh-CN"] as const) {
        const match = command.exec(verdict.remediation?.[lang] ?? "");
        expect(match?.[1]).toBeDefined();
        expect(wordsOf(match?.[1] ?? "")).toEqual([value]);
      }
    });
  }

  it("linger: a login name that is not a plain word is quoted", () => {
    const verdict = linger.evaluate({
      target: { ...alice, name: "a;id" },
      facts: { ...healthyFacts(), linger: { enabled: false, source: "logind" } },
    });
    expect(verdict.remediation?.en).toContain("`sudo loginctl enable-linger 'a;id'`");
  });

  it("apparmor_userns: a rootlesskit path with a quote or newline is not written into a profile", () => {
    const facts = healthyFacts();
    const hostile = '/home/alice/bin/x" flags=(unconfined) {\n  capability,\n}\n"/y';
    facts.kernel = {
      ...facts.kernel,
      sysctls: { ...facts.kernel.sysctls, "kernel.apparmor_restrict_unprivileged_userns": 1 },
      rootlesskitBinary: { path: hostile, netBindService: true },
    };
    const verdict = apparmorUserNs.evaluate({ target: alice, facts });
    expect(verdict.state).toBe("fail");
    expect(verdict.remediation?.en).not.toContain("capability");
    expect(verdict.remediation?.en).toContain("/usr/local/bin/rootlesskit");
    facts.kernel = {
      ...facts.kernel,
      rootlesskitBinary: { path: "/home/alice/bin/rootlesskit", netBindService: true },
    };
    expect(apparmorUserNs.evaluate({ target: alice, facts }).remediation?.en).toContain(
      '"/home/alice/bin/rootlesskit" flags=(unconfined)',
    );
  });
});
