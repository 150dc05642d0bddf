import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { firstMissing } from "./prerequisites.js";
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

/** Why the hostile rings cannot run here (they need root, as the exporter is, and the user). */
export const hostileMissing = firstMissing(
  [process.getuid?.() === 0, "needs root"],
  [hostileUser !== undefined, `no user ${hostileUserName} (scripts/test-all.sh makes it)`],
);

export const canRunHostile = hostileMissing === undefined;

/** Runs a program as the hostile user: what it makes is the user's, not chowned by the test. */
export async function asHostile(...argv: string[]): Promise<void> {
  const [file = "", ...rest] = [...asUser(hostileUser as TestUser, {}), ...argv];
  await run(file, rest, { timeout: 120_000 });
}
