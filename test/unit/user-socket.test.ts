import {
  chmodSync,
  lchownSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:http";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unixHttp } from "../../src/host/unix-http.js";
import { withUserSocket } from "../../src/host/user-files.js";
import { userSocketHttp } from "../../src/host/user-socket.js";
import { testUser } from "../helpers/rootless-docker.js";
import { firstMissing, requireOnCi, withReason } from "../helpers/prerequisites.js";

// A root exporter asking a user's socket: the request reaches the user's own socket or nothing,
// even when the user swaps the path between the check and the connect.
const userName = process.env["ROOTLESS_HOSTILE_USER"] ?? "rlx-hostile";
const user = (() => {
  try {
    return testUser(userName);
  } catch {
    return undefined;
  }
})();
const missing = firstMissing(
  [process.getuid?.() === 0, "needs root"],
  [user !== undefined, `no user ${userName} (scripts/test-all.sh makes it)`],
);

describe.skipIf(requireOnCi(missing))(
  withReason(`userSocketHttp to ${userName}'s sockets (needs root and the user)`, missing),
  () => {
    const uid = user?.uid ?? -1;
    let base: string;
    let home: string;
    const servers: Server[] = [];
    const heard: string[] = [];
    const serve = async (path: string, name: string) => {
      const server = createServer((req, res) => {
        heard.push(`${name} ${req.url}`);
        res.end(name);
      });
      await new Promise<void>((resolve) => server.listen(path, resolve));
      servers.push(server);
    };

    beforeAll(async () => {
      base = mkdtempSync(join(tmpdir(), "rootless-exporter-sockets-"));
      chmodSync(base, 0o755);
      home = join(base, "home");
      mkdirSync(home, { mode: 0o700 });
      lchownSync(home, uid, uid);
      mkdirSync(join(base, "root-only"), { mode: 0o700 });
      await serve(join(base, "root-only/docker.sock"), "root");
      await serve(join(home, "docker.sock"), "user");
      lchownSync(join(home, "docker.sock"), uid, uid);
      symlinkSync(join(base, "root-only/docker.sock"), join(home, "link.sock"));
      lchownSync(join(home, "link.sock"), uid, uid);
      writeFileSync(join(home, "file.sock"), "");
      lchownSync(join(home, "file.sock"), uid, uid);
    });
    afterAll(() => {
      for (const s of servers) s.close();
      rmSync(base, { recursive: true, force: true });
    });

    it.each<[string, string, string | RegExp]>([
      ["the user's socket", "docker.sock", "user"],
      ["a symlink to root's socket", "link.sock", /not connecting: .*symbolic link/],
      ["a regular file", "file.sock", /not connecting: .*not a socket/],
      ["nothing there", "none.sock", /not connecting: .*does not exist/],
    ])("%s", async (_name, rel, expected) => {
      heard.length = 0;
      const result = await userSocketHttp(join(home, rel), uid, "/info", { timeoutMs: 2000 });
      if (typeof expected === "string") expect(result).toMatchObject({ ok: true, body: expected });
      else expect(result.ok ? result.body : result.detail).toMatch(expected);
      expect(heard.filter((h) => h.startsWith("root"))).toEqual([]);
    });

    it("reaches the socket that was checked even if the path is swapped before the connect", async () => {
      heard.length = 0;
      const path = join(home, "docker.sock");
      const answer = await withUserSocket(path, uid, async (via) => {
        // The user renames their socket away and puts a symlink to root's in its place.
        renameSync(path, join(home, "moved.sock"));
        symlinkSync(join(base, "root-only/docker.sock"), path);
        return unixHttp(via, "/info", { timeoutMs: 2000 });
      });
      expect(answer).toMatchObject({ ok: true, value: { ok: true, body: "user" } });
      expect(heard).toEqual(["user /info"]);
      // By name, the same request now reaches root's daemon: what the descriptor prevented.
      expect(await unixHttp(path, "/info", { timeoutMs: 2000 })).toMatchObject({ body: "root" });
    });
  },
);
