import { describe, expect, it } from "vitest";
import type { FactsByCollector } from "../../src/collectors/registry.js";
import { exposition } from "../../src/exporter/render/exposition.js";
import type { SamplesInput } from "../../src/exporter/render/samples.js";
import { samplesFrom } from "../../src/exporter/render/samples.js";
import { SnapshotRenderer } from "../../src/exporter/render/snapshot.js";
import type { CollectorState } from "../../src/exporter/schedule/ledger.js";
import type { TargetView } from "../../src/exporter/schedule/views.js";
import type { Target } from "../../src/host/target.js";
import { alice, healthyFacts } from "../helpers/healthy-facts.js";

// heaprev (hostile review of wt/liveheap): a served body, made of the blocks a rendering kept
// from the one before, must be byte for byte the whole rendering of the same input, whatever
// changed in between; and a buffer once served must never be written again.

const healthy = healthyFacts();
type Facts = Partial<FactsByCollector>;

function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const user = (name: string, uid: number): Target => ({
  ...alice,
  name,
  uid,
  gid: uid,
  groups: [uid],
  home: `/home/${name}`,
  runtimeDir: `/run/user/${uid}`,
});

const names = [
  "amy",
  "bøb",
  "用户",
  'c"d\\e',
  "new\nline",
  "tab\there",
  "} x{",
  "e\u2028f",
  "lone\ud800surrogate",
  "dan",
  "eve",
  "fay",
  "gus",
];

interface World {
  targets: Target[];
  facts: Map<Target, { facts: Facts; complete: boolean; errors: readonly string[] }>;
  views: Map<Target, TargetView<FactsByCollector>>;
  host: Facts;
  okRuns: Map<string, boolean>;
  collectors: CollectorState[];
}

function dockerVariant(next: () => number): FactsByCollector["docker"] {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
  const d = healthy.docker;
  return {
    ...d,
    apiUp: next() < 0.7,
    dockerdUp: next() < 0.8,
    // Same length, different bytes (4242 -> 4243), or a different length.
    dockerdPid: pick([4242, 4243, 42, 424242]),
    info: d.info && {
      ...d.info,
      version: pick(["27.3.1", "27.3.2", "28.0.0-rc.1"]),
      containers: { running: pick([0, 1, 7, 10, 100]), paused: pick([0, 3]), stopped: 0 },
    },
  };
}

function kernelVariant(next: () => number): FactsByCollector["kernel"] {
  const k = healthy.kernel;
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
  return {
    ...k,
    release: pick(["6.8.0-45-generic", "6.8.0-46-generic", "6.1.0-9-amd64"]),
    sysctls: { ...k.sysctls, "user.max_user_namespaces": pick([63704, 63705, 0, 1]) },
  };
}

function collectorStates(next: () => number): CollectorState[] {
  const one = (name: string, scope: "host" | "user"): CollectorState => {
    const ok = next() < 0.8;
    return {
      name,
      scope,
      intervalSeconds: 15,
      ok,
      error: ok ? undefined : `boom ${Math.floor(next() * 3)}`,
      lastRunAt: 1_700_000_000 + Math.floor(next() * 3),
      durationSeconds: next() < 0.5 ? 0.25 : 1.5,
      lastSuccessAt: ok ? 1_700_000_000 : undefined,
      errorsTotal: Math.floor(next() * 12),
      runs: 10 + Math.floor(next() * 95),
    } as CollectorState;
  };
  const list = [one("docker", "user"), one("kernel", "host")];
  return next() < 0.2 ? list.slice(0, 1) : list;
}

function input(world: World, duplicate: boolean): SamplesInput {
  const views = world.targets.map((t) => {
    const known = world.views.get(t);
    if (known) return known;
    const entry = world.facts.get(t) ?? { facts: healthy, complete: true, errors: [] };
    const view = {
      target: t,
      facts: { ...world.host, ...entry.facts },
      complete: entry.complete,
      errors: entry.errors,
    } as TargetView<FactsByCollector>;
    world.views.set(t, view);
    return view;
  });
  const shown = duplicate && views[0] ? [...views, { ...views[0] }] : views;
  return {
    collectors: world.collectors,
    views: shown,
    host: world.host,
    hostFindings: [],
    mode: "host",
    userRuns: shown.flatMap((v) => [
      { collector: "docker", user: v.target.name, ok: world.okRuns.get(v.target.name) ?? true },
      { collector: "systemd", user: v.target.name, ok: true },
    ]),
    build: { version: "0.0.0", nodejsVersion: "v20" },
  };
}

/** renderParts where there is one (wt/liveheap), else the one buffer (main). */
const hasParts = "renderParts" in SnapshotRenderer.prototype;
async function partsOf(renderer: SnapshotRenderer, samples: SamplesInput): Promise<Buffer[]> {
  const r = renderer as unknown as { renderParts?: (s: SamplesInput) => Promise<Buffer[]> };
  return r.renderParts ? await r.renderParts(samples) : [await renderer.render(samples)];
}

const whole = (samples: SamplesInput): Buffer => Buffer.from(exposition(samplesFrom(samples)));

async function run(seed: number, rounds: number): Promise<{ reusedParts: number }> {
  const next = random(seed);
  const renderer = new SnapshotRenderer(0);
  let uid = 5000;
  const world: World = {
    targets: names.slice(0, 8).map((n) => user(n, uid++)),
    facts: new Map(),
    views: new Map(),
    host: { kernel: healthy.kernel },
    okRuns: new Map(),
    collectors: collectorStates(next),
  };
  // Every part served, with a copy of its bytes then: none may change afterwards.
  const served: { part: Buffer; copy: Buffer; round: number }[] = [];
  let previous = new Set<Buffer>();
  let reusedParts = 0;
  for (let round = 0; round < rounds; round++) {
    const roll = next();
    const t = world.targets[Math.floor(next() * world.targets.length)];
    if (roll < 0.08 && world.targets.length > 1 && t) {
      world.targets.splice(world.targets.indexOf(t), 1); // gone
    } else if (roll < 0.16) {
      const gone = names.filter((n) => !world.targets.some((x) => x.name === n));
      const name = gone[Math.floor(next() * gone.length)];
      if (name !== undefined) {
        // A new user, now and then with a uid another user had (reused).
        const reuse = next() < 0.5 && t ? t.uid : uid++;
        world.targets.splice(Math.floor(next() * (world.targets.length + 1)), 0, user(name, reuse));
      }
    } else if (roll < 0.22 && t) {
      // Renamed: the same uid, another name (only if free).
      const free = names.find((n) => !world.targets.some((x) => x.name === n));
      if (free !== undefined) world.targets[world.targets.indexOf(t)] = user(free, t.uid);
    } else if (roll < 0.27 && t) {
      // The same user as a new, equal target object.
      world.targets[world.targets.indexOf(t)] = { ...t };
    } else if (roll < 0.5 && t) {
      world.facts.set(t, {
        facts: { ...healthy, docker: dockerVariant(next) },
        complete: true,
        errors: [],
      });
      world.views.delete(t);
    } else if (roll < 0.58 && t) {
      // The docker collector failed for them: no docker facts, incomplete, an error.
      const rest: Facts = { ...healthy };
      delete rest.docker;
      world.facts.set(t, { facts: rest, complete: false, errors: ["docker: boom"] });
      world.views.delete(t);
    } else if (roll < 0.64 && t) {
      world.facts.delete(t); // recovered
      world.views.delete(t);
    } else if (roll < 0.72) {
      // Host series changed (or the host collector failed): every user's view is new.
      world.host = next() < 0.2 ? {} : { kernel: kernelVariant(next) };
      world.views.clear();
    } else if (roll < 0.8 && t) {
      world.okRuns.set(t.name, !(world.okRuns.get(t.name) ?? true));
    } else if (roll < 0.86) {
      world.collectors = collectorStates(next);
    } else if (roll < 0.9) {
      // Every user gone at once, then some come back next rounds.
      world.targets = world.targets.slice(0, next() < 0.5 ? 0 : 1);
    }
    const samples = input(world, next() < 0.05);
    const parts = await partsOf(renderer, samples);
    const body = Buffer.concat(parts);
    const expected = whole(samples);
    if (!body.equals(expected)) {
      expect(body.toString(), `seed ${seed} round ${round}`).toBe(expected.toString());
    }
    for (const part of parts) if (previous.has(part)) reusedParts++;
    previous = new Set(parts);
    for (const { part, copy, round: at } of served)
      expect(part.equals(copy), `a part served at round ${at} changed by round ${round}`).toBe(
        true,
      );
    for (const part of parts) served.push({ part, copy: Buffer.from(part), round });
    while (served.length > 400) served.shift();
  }
  return { reusedParts };
}

describe("heaprev: served body against the whole rendering", () => {
  for (const seed of [1, 2, 3, 7, 19, 42, 1234, 99991]) {
    it(`seed ${seed}: 80 renderings of users, facts, host and runs changing`, async () => {
      const { reusedParts } = await run(seed, 80);
      // The kept blocks were used, so the test does reach the code it means to.
      if (hasParts) expect(reusedParts).toBeGreaterThan(0);
    });
  }
});

describe("heaprev: many users, two renderings asked for at once", () => {
  it("300 users (more than a step of parts per block, hostile names among them), 8 rounds, each rendering right", async () => {
    const next = random(77);
    const renderer = new SnapshotRenderer(0);
    const base = Array.from({ length: 300 }, (_, i) =>
      user(i % 7 === 0 ? `h${i}"\n\\${names[i % names.length]}` : `u${i}`, 20_000 + i),
    );
    let views = base.map(
      (t) =>
        ({ target: t, facts: healthy, complete: true, errors: [] }) as TargetView<FactsByCollector>,
    );
    const world = (vs: TargetView<FactsByCollector>[]): SamplesInput => ({
      collectors: [],
      views: vs,
      host: { kernel: healthy.kernel },
      hostFindings: [],
      mode: "host",
      userRuns: vs.map((v) => ({ collector: "docker", user: v.target.name, ok: true })),
      build: { version: "0.0.0", nodejsVersion: "v20" },
    });
    const changed = (vs: TargetView<FactsByCollector>[]) =>
      vs.flatMap((v) => {
        const roll = next();
        if (roll < 0.02) return [];
        if (roll < 0.08) return [{ ...v, facts: { ...healthy, docker: dockerVariant(next) } }];
        return [v];
      });
    for (let round = 0; round < 8; round++) {
      const first = world((views = changed(views)));
      const second = world((views = changed(views)));
      const a = partsOf(renderer, first);
      const b = partsOf(renderer, second);
      const [pa, pb] = [Buffer.concat(await a), Buffer.concat(await b)];
      expect(pa.equals(whole(first)), `round ${round}, first`).toBe(true);
      expect(pb.equals(whole(second)), `round ${round}, second`).toBe(true);
    }
  });
});
