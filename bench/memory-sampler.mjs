// Preloaded into the daemon that bench/host-mode.mjs starts (it inherits the bench's environment):
//   SAMPLER_OUT=/tmp/s.json NODE_OPTIONS=--import=$PWD/bench/memory-sampler.mjs \
//     node --expose-gc bench/host-mode.mjs 3 10000 1000
// Every 200 ms, in a process whose script is dist/main.js: its RSS (/proc/self/status), heap used
// and committed, V8's old space and array buffers; written to SAMPLER_OUT each time: the sample at
// the peak RSS, each figure's maximum, the mean RSS and the series [seconds, RSS, heap used, old
// space committed, array buffers, MiB made by Buffer.allocUnsafeSlow since the last sample (a
// rendering's blocks and, on a branch that makes them so, users' chunks), major GCs since the last
// sample] (MiB). `slowTotal`: all the MiB made by allocUnsafeSlow; `majors`: the major GCs.
if (process.argv[1]?.endsWith("dist/main.js") && process.env.SAMPLER_OUT) {
  const [fs, v8, hooks] = [
    await import("node:fs"),
    await import("node:v8"),
    await import("node:perf_hooks"),
  ];
  const mib = (bytes) => +(bytes / 2 ** 20).toFixed(1);
  const series = [];
  const max = {};
  let peak = { rss: 0 };
  let sum = 0;
  let slow = 0;
  let slowTotal = 0;
  let majors = 0;
  let majorsTotal = 0;
  const allocUnsafeSlow = Buffer.allocUnsafeSlow;
  Buffer.allocUnsafeSlow = (size) => {
    slow += size;
    return allocUnsafeSlow(size);
  };
  const gcs = new hooks.PerformanceObserver((list) => {
    for (const entry of list.getEntries())
      if (entry.detail?.kind === hooks.constants.NODE_PERFORMANCE_GC_MAJOR) majors++;
  });
  gcs.observe({ entryTypes: ["gc"] });
  const timer = setInterval(() => {
    const text = fs.readFileSync("/proc/self/status", "utf8");
    const status = (field) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(text)[1]) / 1024;
    const memory = process.memoryUsage();
    const old = v8.getHeapSpaceStatistics().find((s) => s.space_name === "old_space");
    const now = {
      rss: status("VmRSS"),
      hwm: status("VmHWM"),
      heapUsed: mib(memory.heapUsed),
      heapTotal: mib(memory.heapTotal),
      oldCommitted: mib(old.space_size),
      oldUsed: mib(old.space_used_size),
      arrayBuffers: mib(memory.arrayBuffers),
      anon: status("RssAnon"),
      file: status("RssFile"),
    };
    sum += now.rss;
    series.push([
      +process.uptime().toFixed(1),
      Math.round(now.rss),
      now.heapUsed,
      now.oldCommitted,
      now.arrayBuffers,
      mib(slow),
      majors,
    ]);
    slowTotal += slow;
    majorsTotal += majors;
    slow = 0;
    majors = 0;
    if (now.rss > peak.rss) peak = now;
    for (const [key, value] of Object.entries(now)) max[key] = Math.max(max[key] ?? 0, value);
    const meanRss = +(sum / series.length).toFixed(1);
    fs.writeFileSync(
      process.env.SAMPLER_OUT,
      JSON.stringify({
        peak,
        max,
        meanRss,
        slowTotal: mib(slowTotal),
        majors: majorsTotal,
        series,
      }),
    );
  }, 200);
  timer.unref();
}
