import { describe, expect, it } from "vitest";
import { FrameMeter } from "../../src/host/dbus-guard.js";

/** A message of `type` with `fields` header-field bytes and `body` body bytes, little endian. */
function frame(type: number, fields: number, body: number, endian = "l"): Buffer {
  const b = Buffer.alloc(16 + Math.ceil(fields / 8) * 8 + body);
  b.write(endian, 0, "latin1");
  b[1] = type;
  b[3] = 1;
  if (endian === "l") {
    b.writeUInt32LE(body, 4);
    b.writeUInt32LE(fields, 12);
  } else {
    b.writeUInt32BE(body, 4);
    b.writeUInt32BE(fields, 12);
  }
  return b;
}

describe("FrameMeter", () => {
  it("finds every header across reads of any size, both endiannesses", () => {
    const seen: [number, number][] = [];
    const meter = new FrameMeter((type, size) => void seen.push([type, size]));
    const stream = Buffer.concat([frame(4, 13, 100), frame(2, 8, 0, "B"), frame(1, 1, 7)]);
    for (let at = 0; at < stream.length; at += 5)
      expect(meter.feed(stream.subarray(at, at + 5))).toBeUndefined();
    expect(seen).toEqual([
      [4, 16 + 16 + 100],
      [2, 16 + 8],
      [1, 16 + 8 + 7],
    ]);
  });

  it("says why to cut at the header, and what is not a message", () => {
    const meter = new FrameMeter((_type, size) => (size > 100 ? "too big" : undefined));
    expect(meter.feed(frame(4, 8, 10))).toBeUndefined();
    expect(meter.feed(frame(4, 8, 200).subarray(0, 16))).toBe("too big");
    expect(new FrameMeter(() => undefined).feed(frame(4, 0, 0, "x"))).toMatch(/not a D-Bus/);
  });
});
