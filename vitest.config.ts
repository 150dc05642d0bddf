import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: "forks",
    // The end-to-end files time scrapes while faults are injected: keep other files off the CPU.
    fileParallelism: false,
  },
});
