import { performance } from "node:perf_hooks";
import bcrypt from "bcrypt";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { BasicAuthVerifier, parseBasic } from "../../src/exporter/http/web-auth.js";

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
  // Whether a verdict came from a cache is whether bcrypt ran, not how fast it came back.
  const compares = vi.spyOn(bcrypt, "compare");
  /** The verdict, and how many bcrypt compares it cost. */
  const counted = async <T>(work: () => Promise<T>): Promise<[T, number]> => {
    compares.mockClear();
    const result = await work();
    return [result, compares.mock.calls.length];
  };
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
    const u = users("$2b$");
    expect(await counted(() => verifier.check(u, basic("alice", "s3cret")))).toEqual(["ok", 1]);
    expect(await counted(() => verifier.check(u, basic("alice", "s3cret")))).toEqual(["ok", 0]);
    const rotated = new Map([["alice", await bcrypt.hash("other", 8)]]);
    expect(await verifier.check(rotated, basic("alice", "s3cret"))).toBe("denied");
    expect(await verifier.check(rotated, basic("alice", "other"))).toBe("ok");
  });

  // The exporter-toolkit's own users file (web/testdata/web_config_users.good.yml): carol is
  // cost 10 ("carol123"), bob a stale cost 18.
  const toolkit = new Map([
    ["bob", "$2y$18$4VeFDzXIoPHKnKTU3O3GH.N.vZu06CVqczYZ8WvfzrddFU6tGqjR."],
    ["carol", "$2y$10$qRTBuFoULoYNA7AQ/F3ck.trZBPyjV64.oA4ZsSBCIWvXuvQlQTuu"],
  ]);
  const timed = async <T>(work: Promise<T>): Promise<[T, number]> => {
    const start = performance.now();
    const result = await work;
    return [result, performance.now() - start];
  };
  /** The verdict, or "late" when it takes longer than `ms`. */
  const within = <T>(ms: number, work: Promise<T>) =>
    Promise.race([work, new Promise<"late">((r) => setTimeout(() => r("late"), ms).unref())]);

  it("an unknown user is checked against a fixed cost-10 decoy, not the file's costliest hash", async () => {
    const verifier = new BasicAuthVerifier();
    // A cost-18 bcrypt takes some 15 s here, a cost-10 one some 80 ms.
    expect(await within(4000, verifier.check(toolkit, basic("nobody", "x")))).toBe("denied");
    const [again, ms] = await timed(verifier.check(toolkit, basic("nobody2", "y")));
    expect(again).toBe("denied");
    expect(ms).toBeLessThan(2000);
  });

  it("a costly login runs in its own lane: a cost-10 one is not queued behind it", async () => {
    const verifier = new BasicAuthVerifier();
    const users = new Map([...toolkit, ["slow", await bcrypt.hash("slow-pw", 14)]]);
    const slow = timed(verifier.check(users, basic("slow", "wrong")));
    const fast = timed(verifier.check(users, basic("carol", "carol123")));
    const [[slowResult, slowMs], [fastResult, fastMs]] = await Promise.all([slow, fast]);
    expect([slowResult, fastResult]).toEqual(["denied", "ok"]);
    // Queued behind it, the fast one would take longer than the slow one.
    expect(fastMs).toBeLessThan(slowMs / 2);
  });

  it("refused pairs are cached apart: a retried wrong password costs nothing, a guess flood evicts no verified pair, a reload empties both", async () => {
    const verifier = new BasicAuthVerifier();
    const u = users("$2b$");
    expect(await verifier.check(u, basic("alice", "s3cret"))).toBe("ok");
    expect(await verifier.check(u, basic("alice", "stale"))).toBe("denied");
    expect(await counted(() => verifier.check(u, basic("alice", "stale")))).toEqual(["denied", 0]);
    for (let i = 0; i < 40; i++) {
      const burst = Array.from({ length: 8 }, (_, j) =>
        verifier.check(u, basic("alice", `guess-${i}-${j}`)),
      );
      expect(await Promise.all(burst)).toEqual(Array(8).fill("denied"));
    }
    expect(await counted(() => verifier.check(u, basic("alice", "s3cret")))).toEqual(["ok", 0]);
    // The same users, re-read: a new map, so the verdicts are made again.
    const reloaded = new Map(u);
    expect(await counted(() => verifier.check(reloaded, basic("alice", "s3cret")))).toEqual([
      "ok",
      1,
    ]);
  });

  it("150 logins at once with the same wrong password all get denied, none busy (one bcrypt)", async () => {
    const verifier = new BasicAuthVerifier();
    const results = await Promise.all(
      Array.from({ length: 150 }, () => verifier.check(toolkit, basic("carol", "wrong"))),
    );
    expect(results).toEqual(Array(150).fill("denied"));
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
