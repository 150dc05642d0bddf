/** `text` in a buffer with memory of its own (not a slice of Node's pool), which release() frees. */
export function ownBytes(text: string): Buffer {
  const bytes = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
  bytes.write(text, 0);
  return bytes;
}

/**
 * Frees a buffer's memory now, not at the major GC that would find it garbage (a buffer that
 * lived through a rendering is in the old generation: a first cycle's replaced bodies of 36 MB
 * waited there, docs/performance.md): its ArrayBuffer is handed to a clone dropped at once,
 * young, so the next scavenge frees it. From then on a view of it has length 0 (copy gives 0 bytes,
 * toString ""), and Buffer.concat or subarray over it throw. Only for a
 * buffer nothing reads again; one that shares its memory (a slice, Node's pool) is left to the GC.
 */
export function release(buffer: Buffer): void {
  const memory = buffer.buffer;
  if (!(memory instanceof ArrayBuffer) || buffer.length === 0) return;
  if (buffer.byteOffset !== 0 || memory.byteLength !== buffer.length) return;
  structuredClone(memory, { transfer: [memory] });
}
