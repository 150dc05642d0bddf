// The closing line of scripts/test-all.sh from Vitest's JSON report: tests passed, failed and
// skipped, failed suites, and the files that failed outside any test (a hook, or loading), by name.
import { readFileSync } from "node:fs";
import { relative } from "node:path";

const report = JSON.parse(readFileSync(process.argv[2], "utf8"));
const notRun = (a) => a.status !== "passed" && a.status !== "failed";
const broken = report.testResults.filter(
  (file) => file.status === "failed" && !file.assertionResults.some((a) => a.status === "failed"),
);
const notRunInBroken = broken.reduce((n, f) => n + f.assertionResults.filter(notRun).length, 0);
const skipped = report.numPendingTests + report.numTodoTests - notRunInBroken;
console.log(
  `vitest: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped; ` +
    `${report.numFailedTestSuites} failed suites, ${broken.length} files failed outside any test` +
    (broken.length > 0 ? ` (${notRunInBroken} tests in them not run)` : ""),
);
for (const file of broken) {
  const why = file.message ? file.message.split("\n")[0] : "a hook (beforeAll, afterAll) threw";
  console.log(`  ${relative(process.cwd(), file.name)}: ${why}`);
}
// Non-zero when anything failed, even if Vitest's own status said otherwise.
process.exitCode =
  report.numFailedTests + report.numFailedTestSuites + broken.length > 0 || !report.success ? 1 : 0;
