// A preload for the daemon (NODE_OPTIONS=--import=$PWD/bench/rss-sampler.mjs, with RSS_SAMPLER_DIR
// set; only a process whose script is dist/main.js samples): every RSS_SAMPLER_MS (100) ms one JSON
// line appended to RSS_SAMPLER_DIR/rss-<pid>.jsonl, so bench/rss-when.mjs can say when the peak
// came and of what:
//   t (ms since the epoch), up (s since the main module was let start), cpu (ms of CPU since the last sample),
//   rss, hwm, anon, file (VmRSS, VmHWM, RssAnon, RssFile), icu (resident MiB of the node binary's ICU data,
//   from /proc/self/pagemap: only where `node` is a non-PIE executable with icudt*_dat, else null),
//   young, old, code, lo (V8's spaces committed: new, old, code, large objects), used (heap used),
//   ab (array buffers), ext (external), slow (MiB made by Buffer.allocUnsafeSlow since the last
//   sample: a rendering's blocks and users' chunks), major/minor (GCs since the last sample). MiB.
//   With RSS_SAMPLER_SMAPS=1 also brk, arenas, stacks, other: see below.
// The ICU range comes from RSS_SAMPLER_ICU=start:size (hex, `nm -S $(which node) | grep icudt`; the
// driver reads it, so the daemon never holds nm's output); without it icu is null.
if (process.argv[1]?.endsWith("dist/main.js") && process.env.RSS_SAMPLER_DIR) {
  // RSS_SAMPLER_PHASE=<s>: the daemon starts (this preload holds its main module back) when the
  // clock is that many seconds into an interval of RSS_SAMPLER_INTERVAL (15) s, so a run can put
  // the first tick of the trigger inside the first cycle (e.g. 13.5: the tick 1.5 s after start),
  // or after it (e.g. 5), every daemon of a run at the same moment.
  const phase = process.env.RSS_SAMPLER_PHASE;
  if (phase !== undefined) {
    const periodMs = Number(process.env.RSS_SAMPLER_INTERVAL ?? 15) * 1000;
    const wait = (Number(phase) * 1000 - (Date.now() % periodMs) + periodMs) % periodMs;
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
  const mainAt = Date.now();
  const [fs, v8, hooks] = await Promise.all([
    import("node:fs"),
    import("node:v8"),
    import("node:perf_hooks"),
  ]);
  const file = `${process.env.RSS_SAMPLER_DIR}/rss-${process.pid}.jsonl`;
  const mib = (bytes) => +(bytes / 2 ** 20).toFixed(2);
  /** The ICU data's [start, end) in this process, when the binary is at a fixed address. */
  let icu;
  try {
    const given = process.env.RSS_SAMPLER_ICU;
    if (!given) throw new Error("no ICU range given");
    const [start, size] = given.split(":").map((h) => BigInt(`0x${h}`));
    const maps = fs.readFileSync("/proc/self/maps", "utf8");
    const mapped = maps.split("\n").some((l) => {
      const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(l);
      return m && BigInt(`0x${m[1]}`) <= start && start < BigInt(`0x${m[2]}`);
    });
    if (mapped) icu = [Number(start / 4096n), Number((start + size + 4095n) / 4096n)];
  } catch {
    icu = undefined;
  }
  const pagemap = icu ? fs.openSync("/proc/self/pagemap", "r") : undefined;
  const entries = icu ? Buffer.alloc((icu[1] - icu[0]) * 8) : undefined;
  const icuResident = () => {
    if (!icu) return null;
    fs.readSync(pagemap, entries, 0, entries.length, icu[0] * 8);
    let pages = 0;
    for (let i = 7; i < entries.length; i += 8) if (entries[i] & 0x80) pages++;
    return mib(pages * 4096);
  };
  // RSS_SAMPLER_SMAPS=1: the anonymous RSS by kind of mapping, from /proc/self/smaps (a few ms a
  // sample): brk (glibc's main arena), arenas (glibc's thread arenas: rw mappings at a 64 MiB
  // boundary), stacks (8 MiB mappings and [stack]), other (V8's pages, mmap'd blocks, the rest).
  const smaps = process.env.RSS_SAMPLER_SMAPS === "1";
  const byKind = () => {
    const kinds = { brk: 0, arenas: 0, stacks: 0, other: 0 };
    let kind;
    for (const line of fs.readFileSync("/proc/self/smaps", "utf8").split("\n")) {
      const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(.*)$/.exec(line);
      if (head) {
        const [start, end] = [parseInt(head[1], 16), parseInt(head[2], 16)];
        const name = head[5];
        if (head[4] !== "0" || (name && !name.startsWith("["))) kind = undefined;
        else if (name === "[heap]") kind = "brk";
        else if (name === "[stack]" || end - start === 8 * 2 ** 20) kind = "stacks";
        else if (name) kind = undefined;
        else if (start % (64 * 2 ** 20) === 0 && head[3].startsWith("rw")) kind = "arenas";
        else kind = "other";
        continue;
      }
      const rss = kind && /^Rss:\s+(\d+) kB/.exec(line);
      if (rss) kinds[kind] += Number(rss[1]) / 1024;
    }
    return Object.fromEntries(Object.entries(kinds).map(([k, v]) => [k, +v.toFixed(2)]));
  };
  let slow = 0;
  let major = 0;
  let minor = 0;
  const allocUnsafeSlow = Buffer.allocUnsafeSlow;
  Buffer.allocUnsafeSlow = (size) => {
    slow += size;
    return allocUnsafeSlow(size);
  };
  new hooks.PerformanceObserver((list) => {
    for (const entry of list.getEntries())
      if (entry.detail?.kind === hooks.constants.NODE_PERFORMANCE_GC_MAJOR) major++;
      else minor++;
  }).observe({ entryTypes: ["gc"] });
  let cpuBefore = process.cpuUsage();
  const timer = setInterval(
    () => {
      const text = fs.readFileSync("/proc/self/status", "utf8");
      const status = (field) =>
        +(Number(new RegExp(`${field}:\\s+(\\d+)`).exec(text)[1]) / 1024).toFixed(2);
      const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s]));
      const memory = process.memoryUsage();
      const cpu = process.cpuUsage(cpuBefore);
      cpuBefore = process.cpuUsage();
      const sample = {
        t: Date.now(),
        up: +((Date.now() - mainAt) / 1000).toFixed(2),
        cpu: Math.round((cpu.user + cpu.system) / 1000),
        rss: status("VmRSS"),
        hwm: status("VmHWM"),
        anon: status("RssAnon"),
        file: status("RssFile"),
        icu: icuResident(),
        young: mib(spaces.new_space.space_size),
        old: mib(spaces.old_space.space_size),
        code: mib(spaces.code_space.space_size),
        lo: mib(spaces.large_object_space.space_size),
        used: mib(memory.heapUsed),
        ab: mib(memory.arrayBuffers),
        ext: mib(memory.external),
        slow: mib(slow),
        major,
        minor,
        ...(smaps && byKind()),
      };
      slow = 0;
      major = 0;
      minor = 0;
      fs.appendFileSync(file, `${JSON.stringify(sample)}\n`);
    },
    Number(process.env.RSS_SAMPLER_MS ?? 100),
  );
  timer.unref();
}
