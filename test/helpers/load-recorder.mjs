// `node --import <this file>`: every module the process imports through ESM (packages and
// built-ins alike) is appended, as its resolved URL, to the file named by LOAD_RECORD. For the
// test of what a configuration loads (test/e2e/memory.test.ts).
import { register } from "node:module";

register("./load-recorder-hooks.mjs", import.meta.url);
