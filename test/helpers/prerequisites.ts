import { it } from "vitest";

/** CI=true is a machine that scripts/test-all.sh provisioned: every ring's prerequisite is there. */
export const onCi = process.env["CI"] === "true";

/**
 * Whether to skip a ring or a test because `missing` (its unmet prerequisite, or undefined) says
 * so. Off CI it skips; on CI it still skips the body but registers a failing test that names the
 * prerequisite, so a ring that did not run is never counted as passed or skipped. Use as
 * `describe.skipIf(requireOnCi(missing))(withReason(title, missing), ...)`.
 */
export function requireOnCi(missing: string | undefined): boolean {
  if (missing === undefined) return false;
  if (onCi)
    it(`prerequisite missing: ${missing}`, () => {
      throw new Error(`${missing} (CI=true: scripts/test-all.sh should have provided it)`);
    });
  return true;
}

/** The default reporter does not say why a block was skipped: the title does. */
export function withReason(title: string, missing: string | undefined): string {
  return missing === undefined ? title : `${title} (skipped: ${missing})`;
}

/** The first unmet prerequisite of a list of [met, what is missing otherwise]. */
export function firstMissing(...needs: readonly [boolean, string][]): string | undefined {
  return needs.find(([met]) => !met)?.[1];
}
