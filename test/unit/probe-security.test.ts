import { execFileSync } from "node:child_process";
import {
  chownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseAgentPort, parseServedProbe } from "../../src/collectors/probe/probe-agent-lines.js";
import { parseLeftovers, ProbeJournal } from "../../src/collectors/probe/probe-journal.js";
import { nsenterSpawn } from "../../src/host/netns.js";
import { defaultStateDir } from "../../src/host/private-dir.js";

const isRoot = process.getuid?.() === 0;
const base = mkdtempSync(join(tmpdir(), "rootless-exporter-journal-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe("nsenterSpawn: the probe agent runs as the namespace's owner", () => {
  const owner = { uid: 1002, gid: 1003 };
  const how = nsenterSpawn(4242, "/usr/bin/node", ["/opt/agent.js", "serve"], owner);

  it("enters the user and network namespaces without keeping the caller's credentials", () => {
    expect(how.args).toEqual(["-U", "-n", "-t", "4242", "/usr/bin/node", "/opt/agent.js", "serve"]);
    expect(how.args).not.toContain("--preserve-credentials");
    expect(how.options).toMatchObject({ shell: false, cwd: "/", env: { PATH: "/usr/bin:/bin" } });
    expect(Object.keys(how.options.env ?? {})).toEqual(["PATH"]);
  });

  it.skipIf(!isRoot)("as root: the spawn switches to the user's uid and gid", () => {
    expect(how.options.uid).toBe(1002);
    expect(how.options.gid).toBe(1003);
  });

  it.skipIf(isRoot)("as the user itself: no change of credentials", () => {
    const self = process.geteuid?.() ?? 0;
    const mine = nsenterSpawn(1, "p", [], { uid: self, gid: process.getegid?.() ?? self });
    expect(mine.options.uid).toBeUndefined();
  });

  it.each([
    ["uid 0", { uid: 0, gid: 1000 }],
    ["gid 0", { uid: 1000, gid: 0 }],
    ["a negative uid", { uid: -1, gid: 1000 }],
    ["a fractional uid", { uid: 1000.5, gid: 1000 }],
  ])("refuses %s", (_name, who) => {
    expect(() => nsenterSpawn(1, "p", [], who)).toThrow(/refusing/);
  });
});

describe("parseLeftovers: what a journal read back may steer", () => {
  it.each<[string, string, boolean]>([
    ["an empty journal", '{"forwards":[],"agents":[]}', true],
    [
      "a forward and an agent",
      '{"forwards":[{"stateDir":"/run/user/1/k","id":3}],"agents":[77]}',
      true,
    ],
    ["not JSON", "{forwards", false],
    ["an array", "[]", false],
    ["an extra key", '{"forwards":[],"agents":[],"run":"rm -rf /"}', false],
    ["a pid as a string", '{"forwards":[],"agents":["77"]}', false],
    ["pid 1", '{"forwards":[],"agents":[1]}', false],
    ["a negative pid", '{"forwards":[],"agents":[-5]}', false],
    ["a fractional id", '{"forwards":[{"stateDir":"/k","id":1.5}],"agents":[]}', false],
    ["a relative state dir", '{"forwards":[{"stateDir":"k","id":1}],"agents":[]}', false],
    ["an extra forward key", '{"forwards":[{"stateDir":"/k","id":1,"x":1}],"agents":[]}', false],
    ["too many agents", `{"forwards":[],"agents":[${Array(17).fill(5).join(",")}]}`, false],
  ])("%s", (_name, text, ok) => {
    expect(parseLeftovers(text) !== undefined).toBe(ok);
  });
});

describe("the probe agent's lines (the user can make it print anything)", () => {
  it.each<[string, string, number | undefined]>([
    ["a port", '{"port":4000}', 4000],
    ["port 0", '{"port":0}', undefined],
    ["a port too large", '{"port":70000}', undefined],
    ["a port as a string", '{"port":"22"}', undefined],
    ["not JSON", "port 22", undefined],
  ])("parseAgentPort: %s", (_name, line, port) => {
    if (port === undefined) expect(() => parseAgentPort(line)).toThrow();
    else expect(parseAgentPort(line)).toBe(port);
  });

  const report = '{"bytes":10,"seconds":0.5,"cpuSeconds":0.1}';
  it.each<[string, string, boolean]>([
    ["an address and a report", `{"peer":"127.0.0.2","report":${report}}`, true],
    ["an IPv6 address", `{"peer":"::1","report":${report}}`, true],
    ["markup as the peer", `{"peer":"<script>","report":${report}}`, false],
    ["no report", '{"peer":"127.0.0.2"}', false],
    [
      "a negative byte count",
      '{"peer":"10.0.2.2","report":{"bytes":-1,"seconds":1,"cpuSeconds":0}}',
      false,
    ],
  ])("parseServedProbe: %s", (_name, line, ok) => {
    if (ok) expect(parseServedProbe(line).peer).toMatch(/^[\d.:]+$/);
    else expect(() => parseServedProbe(line)).toThrow();
  });

  it("never echoes what the agent printed", () => {
    let message = "";
    try {
      parseAgentPort("TOPSECRET");
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/no JSON/);
    expect(message).not.toContain("TOPSECRET");
  });
});

describe("the probe journal lives in a directory only the exporter can write", () => {
  it.each<[string, number, Record<string, string>, string]>([
    ["root", 0, { XDG_RUNTIME_DIR: "/run/user/1000" }, "/run/rootless-exporter"],
    ["a user", 1000, { XDG_RUNTIME_DIR: "/run/user/1000" }, "/run/user/1000/rootless-exporter"],
    ["a user without XDG_RUNTIME_DIR", 1000, {}, "/run/user/1000/rootless-exporter"],
  ])("default for %s", (_name, uid, env, dir) => {
    expect(defaultStateDir(env, uid)).toBe(dir);
  });

  it("creates the directory 0700 and writes the journal atomically (no temp file left)", async () => {
    const dir = join(base, "fresh");
    const journal = new ProbeJournal(dir, 1002);
    await journal.write({ forwards: [{ stateDir: "/run/user/1002/k", id: 4 }], agents: [99] });
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readdirSync(dir)).toEqual(["probe-1002.json"]);
    expect(await journal.read()).toEqual({
      leftovers: { forwards: [{ stateDir: "/run/user/1002/k", id: 4 }], agents: [99] },
    });
    await journal.remove();
    expect(await journal.read()).toEqual({});
  });

  it("replaces a symlink at the journal's path instead of writing through it", async () => {
    const dir = join(base, "with-link");
    mkdirSync(dir, { mode: 0o700 });
    const victim = join(base, "victim");
    writeFileSync(victim, "precious\n");
    symlinkSync(victim, join(dir, "probe-1002.json"));
    const journal = new ProbeJournal(dir, 1002);
    // Read back first, as a probe does: a symlink is refused, not followed.
    expect((await journal.read()).malformed).toMatch(/symbolic link/);
    await journal.write({ forwards: [], agents: [] });
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
    expect(lstatSync(join(dir, "probe-1002.json")).isFile()).toBe(true);
  });

  it("reads a FIFO at the journal's path as malformed, at once", async () => {
    const dir = join(base, "with-fifo");
    mkdirSync(dir, { mode: 0o700 });
    execFileSync("mkfifo", [join(dir, "probe-7.json")]);
    expect((await new ProbeJournal(dir, 7).read()).malformed).toMatch(/not a regular file/);
  });

  it.each<[string, (dir: string) => void, RegExp]>([
    ["a symlink to a directory", (d) => symlinkSync(base, d), /symbolic link/],
    ["a directory others can write", (d) => mkdirSync(d, { mode: 0o777 }), /others can write/],
    ["a file", (d) => writeFileSync(d, ""), /not a directory/],
  ])("refuses %s as its directory", async (_name, make, why) => {
    const dir = join(base, `bad-${Math.random().toString(36).slice(2)}`);
    make(dir);
    if (lstatSync(dir).isDirectory()) execFileSync("chmod", ["0777", dir]);
    await expect(new ProbeJournal(dir, 1).write({ forwards: [], agents: [] })).rejects.toThrow(why);
  });

  it.skipIf(!isRoot)("refuses a directory someone else owns", async () => {
    const dir = join(base, "nobodys");
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, 65534, 65534);
    await expect(new ProbeJournal(dir, 1).write({ forwards: [], agents: [] })).rejects.toThrow(
      /belongs to uid 65534/,
    );
  });
});
