import { itemsPerStep } from "./slices.js";
import { UserChunk } from "./user-chunk.js";

/** One line of a merged series: its value is final only once every series is in. */
export interface Line {
  readonly text: string;
  value: number;
}

/** A metric block's parts in order (assembly.ts). */
export interface BlockParts {
  /** Lines merged here, and users' chunks whose run of this metric comes there. */
  readonly parts: (Line | UserChunk)[];
  /** For each part: where its run is in the chunk's `runs`, or -1 for a line. */
  readonly runAt: number[];
}

// A block's bytes are its texts (header, merged lines, the final newline) and its users' runs in
// the order of `parts`; `texts` holds the texts in order. Both functions write to `moved`, from
// `firstRun`, where each of the block's runs is in the block's buffer.

/**
 * Whether the block's bytes are `last`'s, with where its runs are in it, written to `moved`
 * from `firstRun`. A run that already lies at its place in `last` is not compared.
 */
export function* sameBlock(
  last: Buffer,
  block: BlockParts,
  texts: readonly string[],
  moved: Uint32Array,
  firstRun: number,
): Generator<void, boolean> {
  let offset = 0;
  let nextText = 0;
  let nextRun = firstRun;
  // Each text encoded into one scratch buffer to be compared (no buffer per line); one too long
  // for it, into a buffer of its own.
  let scratch = Buffer.allocUnsafe(2048);
  const text = (): boolean => {
    const value = texts[nextText++] ?? "";
    const length = Buffer.byteLength(value);
    if (length > scratch.length) scratch = Buffer.allocUnsafe(length);
    scratch.write(value, 0);
    const end = offset + length;
    if (end > last.length || scratch.compare(last, offset, end, 0, length) !== 0) return false;
    offset = end;
    return true;
  };
  if (!text()) return false;
  for (let i = 0; i < block.parts.length; i++) {
    const part = block.parts[i] as Line | UserChunk;
    if (part instanceof UserChunk) {
      const at = block.runAt[i] ?? 0;
      const from = part.bufferOf(at);
      // Two reads, not `[start, end] = [...]`: that made an array (and its iteration) a run
      // compared, ~1.2 MiB of garbage a steady rendering at 1,000 users (bench/render-garbage.mjs).
      const start = part.runs[at + 1] ?? 0;
      const end = part.runs[at + 2] ?? 0;
      const to = offset + end - start;
      if (to > last.length) return false;
      if ((from !== last || start !== offset) && from.compare(last, offset, to, start, end) !== 0)
        return false;
      moved[nextRun++] = offset;
      offset = to;
    } else if (!text()) return false;
    if ((i + 1) % itemsPerStep === 0) yield;
  }
  while (nextText < texts.length) if (!text()) return false;
  return offset === last.length;
}

/** The block written into a new buffer of `length` bytes, with where its runs landed. */
export function* copyBlock(
  length: number,
  block: BlockParts,
  texts: readonly string[],
  moved: Uint32Array,
  firstRun: number,
): Generator<void, Buffer> {
  const out = Buffer.allocUnsafeSlow(length);
  let written = 0;
  let nextText = 0;
  let nextRun = firstRun;
  // Runs that follow each other in the same buffer are copied as one: in a rendering where few
  // users changed, a block's runs are one stretch of the last body (one copy, not one per user
  // and metric, each of which made a typed array: ~1.6 MiB of garbage a rendering at 1,000).
  let from: Buffer | undefined;
  let fromStart = 0;
  let fromEnd = 0;
  const flush = (): void => {
    if (from) written += from.copy(out, written, fromStart, fromEnd);
    from = undefined;
  };
  const write = (): void => {
    flush();
    written += out.write(texts[nextText++] ?? "", written);
  };
  write();
  for (let i = 0; i < block.parts.length; i++) {
    const part = block.parts[i] as Line | UserChunk;
    if (part instanceof UserChunk) {
      const at = block.runAt[i] ?? 0;
      const bytes = part.bufferOf(at);
      const start = part.runs[at + 1] ?? 0;
      if (from !== bytes || fromEnd !== start) {
        flush();
        from = bytes;
        fromStart = start;
        fromEnd = start;
      }
      moved[nextRun++] = written + fromEnd - fromStart;
      fromEnd = part.runs[at + 2] ?? 0;
    } else write();
    if ((i + 1) % itemsPerStep === 0) yield;
  }
  while (nextText < texts.length) write();
  flush();
  // Never serve a byte not written: `out` is uninitialised memory, and a run whose buffer was
  // freed (release) or is shorter than its offsets copies less. The rendering fails instead, and
  // the last body is served on.
  if (written !== length)
    throw new Error(`a block of ${length} bytes was written with ${written}: bytes missing`);
  return out;
}
