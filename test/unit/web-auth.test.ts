import { performance } from "node:perf_hooks";
import bcrypt from "bcrypt";
import { beforeAll, describe, expect, it } from "vitest";
import { BasicAuthVerifier, parseBasic } from "../../src/exporter/web-auth.js";

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

describe("parseBasic", () => {
  it.each([
    [basic("alice", "pa:ss"), { user: "alice", password: "pa:ss" }],
    [basic("", ""), { user: "", password: "" }],
    ["basic   YWxpY2U6eA==", { user: "alice", password: "x" }],
    ["Bearer abc", undefined],
    [`Basic ${Buffer.from("nocolon").toString("base64")}`, undefined],
    [undefined, undefined],
  ])("%j", (header, expected) => {
    expect(parseBasic(header)).toEqual(expected);
  });
});

describe("BasicAuthVerifier", () => {
  let b: string;
  beforeAll(async () => {
    b = await bcrypt.hash("s3cret", 8);
  });
  const users = (prefix: string) => new Map([["alice", `${prefix}${b.slice(4)}`]]);

  it.each(["$2a$", "$2b$", "$2y$"])(
    "accepts the right password under a %s hash",
    async (prefix) => {
      const verifier = new BasicAuthVerifier();
      expect(await verifier.check(users(prefix), basic("alice", "s3cret"))).toBe("ok");
      expect(await verifier.check(users(prefix), basic("alice", "s3creT"))).toBe("denied");
      expect(await verifier.check(users(prefix), basic("bob", "s3cret"))).toBe("denied");
      expect(await verifier.check(users(prefix), undefined)).toBe("denied");
    },
  );

  it("a verified pair is cached; a changed hash (rotation) is checked again", async () => {
    const verifier = new BasicAuthVerifier();
    expect(await verifier.check(users("$2b$"), basic("alice", "s3cret"))).toBe("ok");
    const start = performance.now();
    expect(await verifier.check(users("$2b$"), basic("alice", "s3cret"))).toBe("ok");
    expect(performance.now() - start).toBeLessThan(2);
    const rotated = new Map([["alice", await bcrypt.hash("other", 8)]]);
    expect(await verifier.check(rotated, basic("alice", "s3cret"))).toBe("denied");
    expect(await verifier.check(rotated, basic("alice", "other"))).toBe("ok");
  });

  it("an unknown user costs a real bcrypt, as a wrong password does; one bcrypt at a time", async () => {
    const verifier = new BasicAuthVerifier();
    const u = users("$2b$");
    await verifier.check(u, basic("nobody", "x")); // makes the decoy hash once
    // The least of three runs each, so a busy machine's noise does not decide.
    const time = async (header: string) => {
      let least = Infinity;
      for (let i = 0; i < 3; i++) {
        const start = performance.now();
        await verifier.check(u, header);
        least = Math.min(least, performance.now() - start);
      }
      return least;
    };
    const wrong = await time(basic("alice", "wrong"));
    const unknown = await time(basic("nobody", "wrong"));
    expect(wrong).toBeGreaterThan(3);
    expect(unknown).toBeGreaterThan(wrong / 2);
    expect(unknown).toBeLessThan(wrong * 2 + 20);
    // Four at once take about four times one: they ran one after another.
    const start = performance.now();
    await Promise.all([1, 2, 3, 4].map(() => verifier.check(u, basic("alice", "wrong"))));
    expect(performance.now() - start).toBeGreaterThan(3 * Math.min(wrong, unknown));
  });

  it("past 8 waiting bcrypts a new guess is refused as busy; cached credentials still get in", async () => {
    const verifier = new BasicAuthVerifier();
    const u = users("$2b$");
    expect(await verifier.check(u, basic("alice", "s3cret"))).toBe("ok");
    const guesses = Array.from({ length: 12 }, (_, i) =>
      verifier.check(u, basic("alice", `g${i}`)),
    );
    expect(await verifier.check(u, basic("alice", "s3cret"))).toBe("ok");
    const results = await Promise.all(guesses);
    expect(results.filter((r) => r === "denied")).toHaveLength(8);
    expect(results.filter((r) => r === "busy")).toHaveLength(4);
  });
});
