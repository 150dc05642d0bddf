import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import type { ModuleFact } from "../../src/collectors/kernel/kernel-modules.js";
import { parseKernelConfig } from "../../src/host/kernel-config.js";
import { resolveUnder } from "../../src/host/links.js";
import { MountTable } from "../../src/host/mount-table.js";
import {
  configValue,
  judgeModule,
  parseModulesDep,
  parseTableNames,
  readModuleStates,
} from "../../src/collectors/kernel/kernel-modules.js";

const none = { sysModules: new Map<string, "loaded" | "builtin">() };
const config = (text: string) => ({ values: parseKernelConfig(text), source: "/proc/config.gz" });

describe("kernel-modules", () => {
  it.each([
    ["CONFIG_NF_TABLES=y", "CONFIG_NF_TABLES", "y"],
    ["CONFIG_NF_TABLES=m", "CONFIG_NF_TABLES", "m"],
    ["# CONFIG_NF_TABLES is not set", "CONFIG_NF_TABLES", "n"],
    ["CONFIG_NF_TABLES_INET=y", "CONFIG_NF_TABLES", "n"],
    ["", "CONFIG_MODULES", "n"],
  ])("configValue(%j, %s) is %s", (text, symbol, value) => {
    expect(configValue(parseKernelConfig(text), symbol)).toBe(value);
  });

  it("parses modules.dep and ip_tables_names", () => {
    const dep =
      "kernel/net/ipv4/netfilter/ip_tables.ko.xz: kernel/net/netfilter/x_tables.ko.xz\n" +
      "kernel/net/netfilter/nf_tables.ko:\ngarbage\n";
    expect([...parseModulesDep(dep)].sort()).toEqual(["ip_tables", "nf_tables"]);
    expect(parseTableNames("nat\nfilter\n\n bad line\n")).toEqual(["nat", "filter"]);
  });

  // One evidence at a time: built in, loaded, loadable and absent are four facts.
  it.each<[string, Parameters<typeof judgeModule>[1], string, ModuleFact | undefined]>([
    [
      "listed in /proc/modules",
      { ...none, procModules: new Set(["nf_tables"]) },
      "nf_tables",
      { state: "loaded", evidence: "/proc/modules" },
    ],
    [
      "/sys/module with initstate",
      { sysModules: new Map([["nf_tables", "loaded"]]) },
      "nf_tables",
      { state: "loaded", evidence: "/sys/module/nf_tables/initstate" },
    ],
    [
      "/sys/module without initstate",
      { sysModules: new Map([["overlay", "builtin"]]) },
      "overlay",
      { state: "builtin", evidence: "/sys/module/overlay (no initstate)" },
    ],
    [
      "modules.builtin",
      { ...none, builtin: { names: new Set(["nf_tables"]), source: "mb" } },
      "nf_tables",
      { state: "builtin", evidence: "mb" },
    ],
    [
      "ip_tables_names exists, no module list",
      { ...none, tables: [] },
      "ip_tables",
      { state: "builtin", evidence: "/proc/net/ip_tables_names" },
    ],
    [
      "ip_tables_names lists nat",
      { ...none, tables: ["nat"] },
      "iptable_nat",
      { state: "builtin", evidence: "/proc/net/ip_tables_names" },
    ],
    [
      "ip_tables_names without mangle says nothing of mangle",
      { ...none, tables: ["nat"] },
      "iptable_mangle",
      undefined,
    ],
    [
      "config =y",
      { ...none, config: config("CONFIG_MODULES=y\nCONFIG_NF_TABLES=y\n") },
      "nf_tables",
      { state: "builtin", evidence: "/proc/config.gz: CONFIG_NF_TABLES=y" },
    ],
    [
      "config =m, not loaded",
      {
        ...none,
        procModules: new Set<string>(),
        config: config("CONFIG_MODULES=y\nCONFIG_NF_TABLES=m\n"),
      },
      "nf_tables",
      { state: "loadable", evidence: "/proc/config.gz: CONFIG_NF_TABLES=m" },
    ],
    [
      "config =m without module support",
      { ...none, config: config("# CONFIG_MODULES is not set\nCONFIG_NF_TABLES=m\n") },
      "nf_tables",
      { state: "absent", evidence: "/proc/config.gz: CONFIG_NF_TABLES=m" },
    ],
    [
      "config not set",
      { ...none, config: config("CONFIG_MODULES=y\n# CONFIG_NF_TABLES is not set\n") },
      "nf_tables",
      { state: "absent", evidence: "/proc/config.gz: CONFIG_NF_TABLES is not set" },
    ],
    [
      "modules.dep only",
      { ...none, installed: { names: new Set(["ip_tables"]), source: "md" } },
      "ip_tables",
      { state: "loadable", evidence: "md" },
    ],
    [
      "in neither modules.builtin nor modules.dep",
      {
        ...none,
        builtin: { names: new Set<string>(), source: "mb" },
        installed: { names: new Set<string>(), source: "md" },
      },
      "ip_tables",
      { state: "absent", evidence: "mb, md" },
    ],
    ["no evidence at all", none, "nf_tables", undefined],
  ])("%s", (_name, evidence, module, expected) => {
    expect(judgeModule(module, evidence)).toEqual(expected);
  });

  describe("on a tree", () => {
    let dir = "";
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it("a kernel without module support, iptables built in (this project's machine)", async () => {
      dir = mkdtempSync(join(tmpdir(), "kernel-modules-"));
      const roots = {
        procfs: join(dir, "proc"),
        sysfs: join(dir, "sys"),
        rootfs: join(dir, "root"),
      };
      mkdirSync(join(roots.procfs, "net"), { recursive: true });
      mkdirSync(join(roots.sysfs, "module/overlay/parameters"), { recursive: true });
      mkdirSync(roots.rootfs);
      writeFileSync(join(roots.procfs, "net/ip_tables_names"), "");
      writeFileSync(
        join(roots.procfs, "config.gz"),
        gzipSync("# CONFIG_MODULES is not set\nCONFIG_NF_TABLES=y\nCONFIG_IP_NF_NAT=y\n"),
      );
      const { states, missing } = await readModuleStates(roots, new MountTable(), "6.18.44", [
        "ip_tables",
        "iptable_mangle",
        "iptable_nat",
        "nf_tables",
        "overlay",
      ]);
      expect(missing).toBeUndefined();
      expect(Object.fromEntries(Object.entries(states).map(([n, f]) => [n, f.state]))).toEqual({
        ip_tables: "builtin",
        iptable_mangle: "absent",
        iptable_nat: "builtin",
        nf_tables: "builtin",
        overlay: "builtin",
      });
    });

    it("says what was looked for when nothing decides", async () => {
      dir = mkdtempSync(join(tmpdir(), "kernel-modules-"));
      const roots = {
        procfs: join(dir, "proc"),
        sysfs: join(dir, "sys"),
        rootfs: join(dir, "root"),
      };
      const { states, missing } = await readModuleStates(
        roots,
        new MountTable(),
        "6.1.0-18-amd64",
        ["nf_tables"],
      );
      expect(states).toEqual({});
      expect(missing).toContain("/boot/config-6.1.0-18-amd64");
    });
  });
});

describe("resolveUnder: symlink chains under the root filesystem", () => {
  let dir = "";
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ["alternatives to nft", "/etc/alternatives/iptables", "/usr/sbin/xtables-nft-multi"],
    ["relative target", "xtables-legacy-multi", "/usr/sbin/xtables-legacy-multi"],
  ])("%s", (_name, link, end) => {
    dir = mkdtempSync(join(tmpdir(), "links-"));
    const roots = { procfs: join(dir, "proc"), sysfs: join(dir, "sys"), rootfs: dir };
    mkdirSync(join(dir, "usr/sbin"), { recursive: true });
    mkdirSync(join(dir, "etc/alternatives"), { recursive: true });
    writeFileSync(join(dir, end), "");
    symlinkSync(end, join(dir, "etc/alternatives/iptables"));
    symlinkSync(link, join(dir, "usr/sbin/iptables"));
    expect(resolveUnder(roots, "/usr/sbin/iptables")).toBe(end);
  });

  it("a loop ends in undefined", () => {
    dir = mkdtempSync(join(tmpdir(), "links-"));
    const roots = { procfs: join(dir, "proc"), sysfs: join(dir, "sys"), rootfs: dir };
    symlinkSync("/b", join(dir, "a"));
    symlinkSync("/a", join(dir, "b"));
    expect(resolveUnder(roots, "/a")).toBeUndefined();
  });
});
