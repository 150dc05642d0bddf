/* subuid(5)/subgid(5): the file format, parsed without the garbage collector in the way. */

export interface SubidRange {
  /** The first field as written: a login name or a numeric uid. */
  readonly owner: string;
  readonly start: number;
  readonly count: number;
}

export interface SubidParseError {
  readonly line: number;
  readonly reason: string;
}

export interface ParsedSubidFile {
  readonly ranges: readonly SubidRange[];
  readonly errors: readonly SubidParseError[];
}

/** IDs are 32-bit; (uid_t)-1 is reserved, so a range may not reach past 2^32 - 1. */
const idLimit = 0xffffffff;

type RangeSink = (owner: string, start: number, count: number) => void;

/**
 * subuid(5)/subgid(5): one `owner:start:count` per line, owner a login name or a numeric uid.
 * Blank lines and `#` comments are skipped; every other line that does not fit is an error and the
 * good lines still count. Ranges go to `sink` so a 100k-line file need not become 100k objects.
 */
export function scanSubidFile(text: string, sink: RangeSink): SubidParseError[] {
  const errors: SubidParseError[] = [];
  let lineNo = 0;
  let from = 0;
  // Index arithmetic instead of split/slice/RegExp keeps the garbage collector out of the way.
  while (from <= text.length) {
    let to = text.indexOf("\n", from);
    if (to === -1) to = text.length;
    lineNo++;
    let begin = from;
    let end = to;
    from = to + 1;
    while (begin < end && isSpace(text.charCodeAt(begin))) begin++;
    while (end > begin && isSpace(text.charCodeAt(end - 1))) end--;
    if (begin === end || text.charCodeAt(begin) === 35 /* # */) continue;
    const reason = parseLine(text, begin, end, sink);
    if (reason !== undefined) errors.push({ line: lineNo, reason });
  }
  return errors;
}

export function parseSubidFile(text: string): ParsedSubidFile {
  const ranges: SubidRange[] = [];
  const errors = scanSubidFile(text, (owner, start, count) => ranges.push({ owner, start, count }));
  return { ranges, errors };
}

function isSpace(code: number): boolean {
  return code === 32 || code === 9 || code === 13 || code === 11 || code === 12;
}

/** The decimal of 1 to 10 digits in text[begin, end), or -1. */
export function decimalAt(text: string, begin: number, end: number): number {
  if (end <= begin || end - begin > 10) return -1;
  let value = 0;
  for (let i = begin; i < end; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

export function decimalValue(field: string): number {
  return decimalAt(field, 0, field.length);
}

function parseLine(text: string, begin: number, end: number, sink: RangeSink): string | undefined {
  const first = text.indexOf(":", begin);
  const second = first === -1 || first >= end ? -1 : text.indexOf(":", first + 1);
  if (second === -1 || second >= end || text.lastIndexOf(":", end - 1) !== second) {
    return `expected owner:start:count, found ${text.slice(begin, end).split(":").length} fields`;
  }
  const owner = text.slice(begin, first);
  if (owner === "" || /\s/.test(owner)) return "owner is empty or contains whitespace";
  const start = decimalAt(text, first + 1, second);
  const count = decimalAt(text, second + 1, end);
  if (start < 0) return `start "${text.slice(first + 1, second)}" is not a decimal number`;
  if (count < 0) return `count "${text.slice(second + 1, end)}" is not a decimal number`;
  if (count === 0) return "count is 0";
  if (start + count > idLimit) return `range ${start}+${count} goes past ${idLimit}`;
  sink(owner, start, count);
  return undefined;
}
