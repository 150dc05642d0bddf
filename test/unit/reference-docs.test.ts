import { readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { referenceDocs, regenerateCommand } from "../helpers/reference-docs.js";

// The generated docs must match the code: a new metric, check or text without `npm run docs` fails.
// `npm run docs` runs this file with WRITE_DOCS=1, which writes them instead.
describe("generated docs", async () => {
  const docs = await referenceDocs();
  it.each(Object.keys(docs))("%s is up to date", (path) => {
    const fresh = docs[path] as string;
    if (process.env.WRITE_DOCS === "1") writeFileSync(path, fresh);
    let committed = "";
    try {
      committed = readFileSync(path, "utf8");
    } catch {
      // A missing file is stale too: the message below says how to make it.
    }
    expect(
      committed === fresh,
      `${path} is stale: run \`${regenerateCommand}\` and commit it`,
    ).toBe(true);
  });
});
