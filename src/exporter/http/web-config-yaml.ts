import type { Node as YamlNode } from "yaml";
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument } from "yaml";

/**
 * The web config file read as the toolkit's yaml.v2 reads it: YAML 1.1 (yes/no/on/off are
 * booleans, 0x1F an integer), keys unique, and every scalar kept with its source text, because
 * yaml.v2 fills a string field with a scalar's text whatever the scalar resolves to
 * (`X-XSS-Protection: 1` is the header "1").
 */
export interface YamlScalar {
  readonly kind: "scalar";
  /** What YAML 1.1 resolves it to: null, a boolean, a number or a string. */
  readonly value: unknown;
  /** Its text as written (quotes removed). */
  readonly text: string;
  readonly line: number;
}
export interface YamlMapping {
  readonly kind: "mapping";
  readonly entries: ReadonlyMap<string, YamlValue>;
  readonly line: number;
}
export interface YamlSequence {
  readonly kind: "sequence";
  readonly items: readonly YamlValue[];
  readonly line: number;
}
export type YamlValue = YamlScalar | YamlMapping | YamlSequence;

/** Not YAML, or a key written twice: the message names the line (and the key). */
export class YamlError extends Error {}

/** Aliases repeat what they name; past these the file is refused, not walked ("billion laughs"). */
const maxDepth = 64;
const maxNodes = 100_000;

export function readYaml(text: string): YamlValue | undefined {
  const lines = new LineCounter();
  const doc = parseDocument(text, { version: "1.1", uniqueKeys: false, lineCounter: lines });
  const lineOf = (offset: number | undefined): number => lines.linePos(offset ?? 0).line;
  const first = doc.errors[0];
  if (first) {
    const message = first.message.split("\n", 1)[0]?.replace(/:$/, "") ?? first.code;
    throw new YamlError(message);
  }
  let nodes = 0;
  const convert = (node: unknown, depth: number): YamlValue => {
    if (depth > maxDepth || ++nodes > maxNodes)
      throw new YamlError("too deeply nested or too many aliases");
    const at = (node as YamlNode).range?.[0];
    if (isAlias(node)) return convert(node.resolve(doc), depth + 1);
    if (isScalar(node))
      return {
        kind: "scalar",
        value: node.value,
        text: node.value === null ? "" : String(node.source ?? node.value),
        line: lineOf(at),
      };
    if (isMap(node)) {
      const entries = new Map<string, YamlValue>();
      for (const pair of node.items) {
        const key = convert(pair.key, depth + 1);
        if (key.kind !== "scalar")
          throw new YamlError(`line ${key.line}: a key must be a plain value`);
        // Found here rather than by the parser, whose error names neither the key nor its line.
        if (entries.has(key.text))
          throw new YamlError(`line ${key.line}: key "${key.text}" appears twice`);
        entries.set(key.text, convert(pair.value, depth + 1));
      }
      return { kind: "mapping", entries, line: lineOf(at) };
    }
    if (isSeq(node))
      return {
        kind: "sequence",
        items: node.items.map((item) => convert(item, depth + 1)),
        line: lineOf(at),
      };
    // An empty value ("key:") has no node at all.
    return { kind: "scalar", value: null, text: "", line: lineOf(at) };
  };
  return doc.contents === null ? undefined : convert(doc.contents, 0);
}
