import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

// The layers of shared/design/ARCHITECTURE.md: only host/ touches the OS, checks/ are pure rules
// on fact types. Node's built-ins are named with and without the node: prefix.
const both = (...names) => names.flatMap((name) => [name, `node:${name}`]);
const osAccess = both(
  "child_process",
  "fs",
  "fs/promises",
  "net",
  "http",
  "https",
  "tls",
  "dgram",
  "dns",
  "os",
);

export default tseslint.config(
  { ignores: ["dist/", "coverage/", "node_modules/", "build/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  { languageOptions: { globals: globals.node } },
  {
    rules: {
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "no-restricted-imports": [
        "error",
        {
          paths: both("child_process").map((name) => ({
            name,
            message: "child processes are started only through src/host/ (exec.ts, netns.ts)",
          })),
        },
      ],
    },
  },
  {
    files: ["src/host/**/*.ts", "test/**/*.ts", "bench/**/*.mjs", "scripts/**"],
    rules: { "no-restricted-imports": "off" },
  },
  {
    files: ["src/collectors/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: osAccess
            .filter((name) => !name.endsWith("net"))
            .map((name) => ({ name, message: "collectors reach the OS only through src/host/" })),
          patterns: [
            {
              group: ["../exporter/*", "../checks/*", "prom-client"],
              message: "collectors sit below exporter/ and checks/",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["src/checks/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        { patterns: [{ group: ["node:*", ...osAccess], message: "checks are pure rules" }] },
      ],
      "@typescript-eslint/no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["../collectors/*", "../host/*", "../exporter/*"],
              allowTypeImports: true,
              message: "checks import only the types of facts",
            },
          ],
        },
      ],
    },
  },
);
