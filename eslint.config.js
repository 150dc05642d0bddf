import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

// The layers of docs/architecture.md: only host/ touches the OS, checks/ are pure rules
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
    // Outside host/ nothing reads files, starts processes or asks the OS; the exporter's HTTP
    // side alone serves sockets (exporter/http/).
    files: ["src/**/*.ts"],
    ignores: ["src/host/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: both("child_process", "fs", "fs/promises", "os", "dgram", "dns").map((name) => ({
            name,
            message: "only src/host/ touches the OS (files, processes, the system)",
          })),
        },
      ],
    },
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
              group: ["**/exporter/**", "prom-client"],
              message: "collectors sit below exporter/",
            },
            {
              group: ["**/checks/registry.js", "**/checks/finding.js"],
              message: "a module's checks use the vocabulary of checks/verdict.ts, not the list",
            },
          ],
        },
      ],
    },
  },
  {
    // Target discovery sits below the exporter: host/ facts and collectors' cycle memos in,
    // Target[] out.
    files: ["src/targets/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: osAccess.map((name) => ({
            name,
            message: "targets reach the OS only through src/host/",
          })),
          patterns: [{ group: ["**/exporter/**"], message: "targets sit below exporter/" }],
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
              group: ["**/collectors/**", "**/host/**", "**/exporter/**"],
              allowTypeImports: true,
              message: "checks import only the types of facts",
            },
          ],
        },
      ],
    },
  },
  {
    // The check list is derived from the module registry.
    files: ["src/checks/registry.ts"],
    rules: { "@typescript-eslint/no-restricted-imports": "off" },
  },
);
