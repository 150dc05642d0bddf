// The live heap of a host-mode exporter by structure: a Watch and a renderer in this process on
// bench/host-fixture.mjs's generated host, three cycles and a rendering, then a heap snapshot
// (v8.writeHeapSnapshot) read back in a child process and summed by the objects' shapes: a plain
// object by its property names (a slot's RunState, a view, a chunk cache entry are told apart so),
// an instance by its constructor, an object's own elements/properties/hash table counted with it,
// and for each shape the shape and edge that most often holds it. Bytes per user = size / users.
// As root, after `npm run build`: node --expose-gc bench/heap-shapes.mjs [users=1000] [live=100]
// (ROOT=<another built checkout> measures that build; TOP=40 rows.)
// node bench/heap-shapes.mjs --read <file.heapsnapshot> <users> reads a snapshot already written.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeHeapSnapshot } from "node:v8";

const top = Number(process.env.TOP ?? 40);

if (process.argv[2] === "--read") {
  summarize(process.argv[3], Number(process.argv[4]));
} else {
  const { generateHost, hostMode } = await import("./host-fixture.mjs");
  const root = process.env.ROOT ?? fileURLToPath(new URL("..", import.meta.url));
  const { MetricsRenderer, watch: hostWatch } = await hostMode(root);
  const [users = 1000, live = 100] = process.argv.slice(2).map(Number);
  if (!globalThis.gc) throw new Error("run with --expose-gc");
  const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-shapes-"));
  const { roots } = generateHost(dir, users, live);
  const watch = await hostWatch(roots);
  for (let i = 0; i < 3; i++) await watch.scheduler.runAll();
  const renderer = new MetricsRenderer({
    samples: () => watch.snapshot({ version: "bench", nodejsVersion: process.version }),
    exporterMetrics: false,
  });
  // The body as served (its parts), not joined into one buffer for this bench.
  const parts = await renderer.body();
  const body = { length: parts.reduce((sum, part) => sum + part.length, 0) };
  renderer.stop();
  globalThis.gc();
  globalThis.gc();
  const used = process.memoryUsage().heapUsed;
  console.log(
    `${users} users (${live} live), ${root}: live heap ${(used / 2 ** 20).toFixed(1)} MiB ` +
      `(${Math.round(used / users)} bytes a user), body ${(body.length / 2 ** 20).toFixed(1)} MiB`,
  );
  const file = writeHeapSnapshot(join(dir, "live.heapsnapshot"));
  process.stdout.write(
    execFileSync(process.execPath, [
      "--max-old-space-size=8192",
      fileURLToPath(import.meta.url),
      "--read",
      file,
      String(users),
    ]),
  );
  await watch.stop();
  rmSync(dir, { recursive: true, force: true });
}

function summarize(file, users) {
  const snap = JSON.parse(readFileSync(file, "utf8"));
  const { node_fields, edge_fields, node_types, edge_types } = snap.snapshot.meta;
  const [nf, ef] = [node_fields.length, edge_fields.length];
  const [nTypes, eTypes] = [node_types[0], edge_types[0]];
  const { nodes, edges, strings } = snap;
  const count = nodes.length / nf;
  const at = (f) => node_fields.indexOf(f);
  const [TYPE, NAME, SIZE, EDGES] = [at("type"), at("name"), at("self_size"), at("edge_count")];
  const firstEdge = new Uint32Array(count + 1);
  for (let i = 0; i < count; i++) firstEdge[i + 1] = firstEdge[i] + nodes[i * nf + EDGES];
  const edgeType = (e) => eTypes[edges[e * ef]];
  const edgeName = (e) => {
    const type = edgeType(e);
    const v = edges[e * ef + 1];
    return type === "element" || type === "hidden" ? `[${v}]` : strings[v];
  };
  const edgeTo = (e) => edges[e * ef + 2] / nf;
  const type = (i) => nTypes[nodes[i * nf + TYPE]];
  const name = (i) => strings[nodes[i * nf + NAME]];
  const retainers = new Uint32Array(count);
  const holder = new Int32Array(count).fill(-1);
  const holderEdge = new Int32Array(count).fill(-1);
  for (let i = 0; i < count; i++)
    for (let e = firstEdge[i]; e < firstEdge[i + 1]; e++) {
      if (edgeType(e) === "weak") continue;
      const to = edgeTo(e);
      retainers[to]++;
      if (holder[to] < 0 && edgeType(e) !== "shortcut") [holder[to], holderEdge[to]] = [i, e];
    }
  // An object's own backing stores (its elements, out-of-object properties, a Map's table),
  // held by it alone, are counted with it.
  const owner = new Int32Array(count).fill(-1);
  const owned = new Set(["elements", "properties", "table"]);
  for (let i = 0; i < count; i++) {
    if (type(i) !== "object") continue;
    for (let e = firstEdge[i]; e < firstEdge[i + 1]; e++) {
      const to = edgeTo(e);
      if (edgeType(e) === "internal" && owned.has(edgeName(e)) && retainers[to] === 1)
        owner[to] = i;
    }
  }
  const shapeOf = new Array(count);
  const shape = (i) => {
    if (shapeOf[i] !== undefined) return shapeOf[i];
    const t = type(i);
    let s;
    if (t === "object" && name(i) === "Object") {
      const props = [];
      for (let e = firstEdge[i]; e < firstEdge[i + 1] && props.length < 9; e++)
        if (edgeType(e) === "property" && !strings[edges[e * ef + 1]].startsWith("__"))
          props.push(edgeName(e));
      s = `{${props.join(",")}}`;
    } else if (t === "object") s = name(i).slice(0, 60);
    else if (t.includes("string")) s = "(strings)";
    else if (t === "number") s = "(heap numbers)";
    else if (t === "closure") s = `(closure ${name(i).slice(0, 30)})`;
    else if (t === "object shape") s = "(hidden classes)";
    else s = `(${t} ${name(i).slice(0, 40)})`;
    return (shapeOf[i] = s);
  };
  // Strings, arrays, Maps, Sets and heap numbers are told apart by the shape that holds them
  // (through cons strings and owned backing stores).
  const generic = new Set(["(strings)", "(heap numbers)", "Array", "Map", "Set", "(array )"]);
  const holderShape = (i) => {
    let h = holder[i];
    for (let n = 0; h >= 0 && n < 8; n++) {
      const o = owner[h] < 0 ? h : owner[h];
      const s = shape(o);
      if (!generic.has(s) || s === "Array" || s === "Map" || s === "Set") return s.slice(0, 50);
      h = holder[o];
    }
    return "?";
  };
  const keyOf = (i) => {
    const s = shape(i);
    return generic.has(s) ? `${s} in ${holderShape(i)}` : s;
  };
  // Hidden classes: how many distinct maps the objects of each shape have.
  const maps = new Map();
  for (let i = 0; i < count; i++) {
    if (type(i) !== "object") continue;
    for (let e = firstEdge[i]; e < firstEdge[i + 1]; e++)
      if (edgeType(e) === "internal" && edgeName(e) === "map") {
        const s = shape(i);
        let m = maps.get(s);
        if (!m) maps.set(s, (m = { objects: 0, maps: new Set() }));
        m.objects++;
        m.maps.add(edgeTo(e));
        break;
      }
  }
  const groups = new Map();
  let total = 0;
  for (let i = 0; i < count; i++) {
    const size = nodes[i * nf + SIZE];
    total += size;
    const self = owner[i] < 0 ? i : owner[i];
    const key = keyOf(self);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { count: 0, size: 0, held: new Map() }));
    g.size += size;
    if (self !== i) continue;
    g.count++;
    const h = holder[i];
    if (h >= 0) {
      const by = `${shape(owner[h] < 0 ? h : owner[h]).slice(0, 50)} .${edgeName(holderEdge[i])}`;
      g.held.set(by, (g.held.get(by) ?? 0) + 1);
    }
  }
  const mib = (b) => (b / 2 ** 20).toFixed(2);
  console.log(
    `snapshot: ${count} nodes, ${mib(total)} MiB (${Math.round(total / users)} bytes a user)`,
  );
  console.log("MiB\tbytes/user\tcount\tshape\theld mostly by");
  const rows = [...groups].sort((a, b) => b[1].size - a[1].size).slice(0, top);
  for (const [key, g] of rows) {
    const [by, n] = [...g.held].sort((a, b) => b[1] - a[1])[0] ?? ["", 0];
    console.log(`${mib(g.size)}\t${(g.size / users).toFixed(1)}\t${g.count}\t${key}\t${by} (${n})`);
  }
  console.log("distinct hidden classes\tobjects\tshape");
  const byMaps = [...maps].sort((a, b) => b[1].maps.size - a[1].maps.size).slice(0, 15);
  for (const [key, m] of byMaps) console.log(`${m.maps.size}\t${m.objects}\t${key}`);
}
