// The file calls of one steady host-mode cycle, counted by kind and path (paths with digits as N):
// what docs/performance.md "The steady cycle, third pass" counts. Needs root and `npm run build`.
// node --expose-gc bench/steady-calls.mjs [checkout=.] [users=1000] [live=100]
import fs from "node:fs";
import fsp from "node:fs/promises";
import { syncBuiltinESMExports } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadBuild, steadyWatch } from "./host-watch.mjs";
const [rootArg, users = "1000", live = "100"] = process.argv.slice(2);
const root = resolve(rootArg ?? ".");
const counts = new Map();
let on = false;
let dirPrefix = "";
const norm = (p) =>
  String(p)
    .replace(dirPrefix, "<F>")
    .replace(/\/proc\/self\/fd\/\d+/, "<fd>")
    .replace(/\d+/g, "N");
const bump = (k) => {
  if (on) counts.set(k, (counts.get(k) ?? 0) + 1);
};
for (const name of [
  "open",
  "lstat",
  "stat",
  "readdir",
  "opendir",
  "readlink",
  "readFile",
  "access",
  "statfs",
]) {
  const orig = fsp[name];
  fsp[name] = function (p, ...rest) {
    bump(`async ${name} ${norm(p)}`);
    return orig.call(this, p, ...rest);
  };
}
// The callback forms too (the walk's fstat and lstat go through them).
for (const name of ["lstat", "fstat", "open", "close", "read"]) {
  const orig = fs[name];
  fs[name] = function (p, ...rest) {
    bump(`callback ${name} ${typeof p === "number" ? "fd" : norm(p)}`);
    return orig.call(this, p, ...rest);
  };
}
for (const name of [
  "openSync",
  "lstatSync",
  "statSync",
  "readdirSync",
  "opendirSync",
  "readlinkSync",
  "readFileSync",
  "statfsSync",
]) {
  const orig = fs[name];
  fs[name] = function (p, ...rest) {
    bump(`sync ${name} ${norm(p)}`);
    return orig.call(this, p, ...rest);
  };
}
syncBuiltinESMExports();
const h = await fsp.open("/", "r");
const FH = Object.getPrototypeOf(h);
await h.close();
for (const name of ["stat", "read", "close"]) {
  const orig = FH[name];
  FH[name] = function (...a) {
    bump(`handle.${name}`);
    return orig.apply(this, a);
  };
}
const { generateHost } = await import(join(root, "bench/host-fixture.mjs"));
const build = await loadBuild(root);
const dir = mkdtempSync(join(tmpdir(), "steady-count-"));
dirPrefix = dir;
const { roots } = generateHost(dir, Number(users), Number(live));
await new Promise((r) => setTimeout(r, 2500));
const watch = await steadyWatch(build, roots);
on = true;
await watch.scheduler.runAll();
on = false;
await watch.stop();
rmSync(dir, { recursive: true, force: true });
const byOp = new Map();
for (const [k, c] of counts) {
  const op = k.split(" ").slice(0, 2).join(" ");
  byOp.set(op, (byOp.get(op) ?? 0) + c);
}
console.log(
  [...byOp]
    .sort((a, b) => b[1] - a[1])
    .map(([k, c]) => `${c}\t${k}`)
    .join("\n"),
);
console.log("---");
console.log(
  [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 40)
    .map(([k, c]) => `${c}\t${k}`)
    .join("\n"),
);
