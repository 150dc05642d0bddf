// V8's sampling heap profiler over what `run` does in this process, objects collected by GCs
// included (what a piece of code allocates, not what it keeps): for the *-garbage benches.
import { Session } from "node:inspector/promises";

/** The sampling heap profile (HeapProfiler.stopSampling's) taken while `run()` ran. */
export async function sampleHeap(run, samplingInterval = 512) {
  const session = new Session();
  session.connect();
  try {
    await session.post("HeapProfiler.startSampling", {
      samplingInterval,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    await run();
    const { profile } = await session.post("HeapProfiler.stopSampling");
    return profile;
  } finally {
    session.disconnect();
  }
}
