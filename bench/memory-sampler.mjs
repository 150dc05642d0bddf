// Preloaded into the daemon that bench/host-mode.mjs starts (it inherits the bench's environment):
//   SAMPLER_OUT=/tmp/s.json NODE_OPTIONS=--import=$PWD/bench/memory-sampler.mjs \
//     node --expose-gc bench/host-mode.mjs 3 10000 1000
// Every 200 ms, in a process whose script is dist/main.js: its RSS (/proc/self/status), heap used
// and committed, V8's old space and array buffers; written to SAMPLER_OUT each time: the sample at
// the peak RSS, each figure's maximum, the mean RSS and the series [seconds, RSS, heap used, old
// space committed, array buffers] (MiB).
if (process.argv[1]?.endsWith("dist/main.js") && process.env.SAMPLER_OUT) {
  const [fs, v8] = [await import("node:fs"), await import("node:v8")];
  const mib = (bytes) => +(bytes / 2 ** 20).toFixed(1);
  const series = [];
  const max = {};
  let peak = { rss: 0 };
  let sum = 0;
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
    ]);
    if (now.rss > peak.rss) peak = now;
    for (const [key, value] of Object.entries(now)) max[key] = Math.max(max[key] ?? 0, value);
    const meanRss = +(sum / series.length).toFixed(1);
    fs.writeFileSync(process.env.SAMPLER_OUT, JSON.stringify({ peak, max, meanRss, series }));
  }, 200);
  timer.unref();
}
