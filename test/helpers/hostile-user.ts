import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { TestUser } from "./rootless-docker.js";
import { asUser, testUser } from "./rootless-docker.js";

const run = promisify(execFile);

/** The watched user who attacks a root exporter (scripts/test-all.sh makes rlx-hostile). */
export const hostileUserName = process.env["ROOTLESS_HOSTILE_USER"] ?? "rlx-hostile";

export const hostileUser: TestUser | undefined = (() => {
  try {
    return testUser(hostileUserName);
  } catch {
    return undefined;
  }
})();

/** The hostile rings need root (the exporter runs as root) and the user. */
export const canRunHostile = process.getuid?.() === 0 && hostileUser !== undefined;

/** Runs a program as the hostile user: what it makes is the user's, not chowned by the test. */
export async function asHostile(...argv: string[]): Promise<void> {
  const [file = "", ...rest] = [...asUser(hostileUser as TestUser, {}), ...argv];
  await run(file, rest, { timeout: 120_000 });
}
