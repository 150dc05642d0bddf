import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

/*
 * The layers of docs/architecture.md, checked on the source: no import cycle (type imports
 * count: a cycle of types is a cycle a reader has to hold), no module-level mutable state, no OS
 * access outside host/, no file over 300 lines.
 */

const src = resolve(import.meta.dirname, "../../src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

const files = sourceFiles(src);
const parsed = new Map(
  files.map((file) => [
    file,
    ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true),
  ]),
);
const name = (file: string): string => relative(src, file);

/** The relative imports and re-exports of a file, as resolved .ts paths. */
function importsOf(source: ts.SourceFile): string[] {
  const found: string[] = [];
  for (const statement of source.statements) {
    const spec =
      (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) &&
      statement.moduleSpecifier &&
      ts.isStringLiteral(statement.moduleSpecifier)
        ? statement.moduleSpecifier.text
        : undefined;
    if (spec?.startsWith(".")) {
      found.push(resolve(dirname(source.fileName), spec).replace(/\.js$/, ".ts"));
    }
  }
  return found;
}

/** Every cycle's first file path found by a depth-first walk, as "a -> b -> a". */
export function importCycles(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const cycles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === "open") {
        cycles.push([...stack.slice(stack.indexOf(next)), next].join(" -> "));
      } else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return cycles;
}

const mutableConstructors = new Set(["Map", "Set", "WeakMap", "WeakSet", "Array"]);

/** Top-level `let`/`var`, and top-level constants holding a new Map, Set, array or object. */
export function moduleState(source: ts.SourceFile): string[] {
  const found: string[] = [];
  for (const statement of source.statements) {
    if (!ts.isVariableStatement(statement)) continue;
    const list = statement.declarationList;
    const kind = list.flags & ts.NodeFlags.Const ? "const" : "let";
    for (const declaration of list.declarations) {
      const line = source.getLineAndCharacterOfPosition(declaration.getStart()).line + 1;
      const where = `${name(source.fileName)}:${line} ${declaration.name.getText()}`;
      if (kind === "let") {
        found.push(`${where} (let)`);
        continue;
      }
      const init = declaration.initializer;
      if (
        init &&
        ts.isNewExpression(init) &&
        ts.isIdentifier(init.expression) &&
        mutableConstructors.has(init.expression.text)
      ) {
        // A lookup table filled once and never written again is data, not state: say so in a
        // ReadonlySet/ReadonlyMap type, which this accepts.
        const typed = declaration.type?.getText() ?? "";
        if (!/^Readonly(Set|Map)</.test(typed))
          found.push(`${where} (new ${init.expression.text})`);
      }
    }
  }
  return found;
}

const osModules = ["child_process", "fs", "fs/promises", "os", "dgram", "dns"].flatMap((m) => [
  m,
  `node:${m}`,
]);

describe("the layers of src/", () => {
  it("has no import cycle", () => {
    const graph = new Map([...parsed].map(([file, source]) => [file, importsOf(source)]));
    const cycles = importCycles(graph).map((cycle) =>
      cycle
        .split(" -> ")
        .map((file) => name(file))
        .join(" -> "),
    );
    expect(cycles).toEqual([]);
  });

  it("finds a cycle when there is one (the walk itself)", () => {
    const graph = new Map([
      ["a", ["b"]],
      ["b", ["c"]],
      ["c", ["a"]],
      ["d", ["a"]],
    ]);
    expect(importCycles(graph)).toEqual(["a -> b -> c -> a"]);
  });

  it("keeps no state at module level: it belongs to an instance or a context", () => {
    expect([...parsed.values()].flatMap(moduleState)).toEqual([]);
  });

  it("sees a module-level let, Map and Set", () => {
    const source = ts.createSourceFile(
      join(src, "x.ts"),
      "let last = 1;\nconst cache = new Map<string, number>();\nconst seen = new Set();\nconst known: ReadonlySet<string> = new Set(['a']);\n",
      ts.ScriptTarget.Latest,
      true,
    );
    expect(moduleState(source)).toEqual([
      "x.ts:1 last (let)",
      "x.ts:2 cache (new Map)",
      "x.ts:3 seen (new Set)",
    ]);
  });

  it("touches the OS (files, processes, the system) only in host/", () => {
    const found: string[] = [];
    for (const [file, source] of parsed) {
      if (name(file).startsWith("host/")) continue;
      for (const statement of source.statements) {
        if (
          ts.isImportDeclaration(statement) &&
          ts.isStringLiteral(statement.moduleSpecifier) &&
          osModules.includes(statement.moduleSpecifier.text) &&
          !statement.importClause?.isTypeOnly
        )
          found.push(`${name(file)}: ${statement.moduleSpecifier.text}`);
      }
    }
    expect(found).toEqual([]);
  });

  it("keeps every source file under 300 lines", () => {
    const long = files
      .map((file) => [name(file), readFileSync(file, "utf8").split("\n").length - 1] as const)
      .filter(([, lines]) => lines > 300)
      .map(([file]) => file);
    expect(long).toEqual([]);
  });
});
