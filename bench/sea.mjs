// The Node single-executable alternative to the .deb, built to be measured (docs/packaging.md):
// dist/ bundled to one CommonJS file with rolldown, bcrypt's addon loaded from beside the binary
// (a SEA can require only built-ins from inside), then the blob injected with postject.
// Run after `npm run build`: `node bench/sea.mjs` -> build/sea/rootless-exporter, bcrypt.node.
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { rolldown } from "rolldown";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = join(root, "build/sea");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;

const bundle = await rolldown({
  input: join(root, "dist/main.js"),
  platform: "node",
  plugins: [
    {
      name: "sea-adaptations",
      transform(code, id) {
        // The addon beside the executable, not inside it.
        if (id.endsWith("/bcrypt/bcrypt.js"))
          return code.replace(
            "require('node-gyp-build')(path.resolve(__dirname))",
            'require("node:module").createRequire(process.execPath)("./bcrypt.node")',
          );
        // No package.json beside a single file: the version is compiled in.
        if (id.endsWith("/dist/version.js"))
          return `export function packageVersion() { return ${JSON.stringify(version)}; }\n`;
      },
    },
  ],
});
await bundle.write({ format: "cjs", file: join(out, "bundle.cjs"), inlineDynamicImports: true });
writeFileSync(
  join(out, "sea-config.json"),
  JSON.stringify({
    main: join(out, "bundle.cjs"),
    output: join(out, "sea-prep.blob"),
    disableExperimentalSEAWarning: true,
    useCodeCache: true,
  }),
);
execFileSync(process.execPath, ["--experimental-sea-config", join(out, "sea-config.json")]);
const binary = join(out, "rootless-exporter");
copyFileSync(process.execPath, binary);
chmodSync(binary, 0o755);
execFileSync(
  "npx",
  [
    "--yes",
    "postject@1.0.0-alpha.6",
    binary,
    "NODE_SEA_BLOB",
    join(out, "sea-prep.blob"),
    "--sentinel-fuse",
    "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2",
  ],
  { stdio: "inherit" },
);
copyFileSync(
  join(root, "node_modules/bcrypt/prebuilds/linux-x64/bcrypt.glibc.node"),
  join(out, "bcrypt.node"),
);
console.log(binary);
