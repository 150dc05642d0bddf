// `node --import <this file>`: when the process exits, the young generation's size (V8's
// new_space, both semi-spaces) is written in bytes to the file named by YOUNG_RECORD. For the
// test of the per-user daemon's young generation (test/e2e/memory.test.ts).
import { writeFileSync } from "node:fs";
import { getHeapSpaceStatistics } from "node:v8";

process.on("exit", () => {
  const young = getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
  writeFileSync(process.env.YOUNG_RECORD, String(young?.space_size ?? -1));
});
