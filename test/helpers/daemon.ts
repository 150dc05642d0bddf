import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { expectSoon } from "./expect-soon.js";

export const projectRoot = fileURLToPath(new URL("../..", import.meta.url));
/** The built daemon; scripts/test-all.sh points this at a copy that unprivileged users can read. */
export const builtMain = process.env["ROOTLESS_TEST_MAIN"] ?? `${projectRoot}/dist/main.js`;

export interface RunningDaemon {
  readonly child: ChildProcess;
  readonly port: number;
  readonly logs: string[];
  readonly url: (path: string) => string;
  /** SIGTERM, then the exit code; kills after 6 s. */
  readonly stop: () => Promise<number | null>;
}

export interface StartOptions {
  /** Runs the daemon through this program and arguments, e.g. ["setpriv", "--reuid=..."]. */
  readonly wrapper?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** Another Node and built main.js, e.g. a distribution's Node inside a container. */
  readonly node?: string;
  readonly main?: string;
}

/** Starts the built daemon on 127.0.0.1 and an ephemeral port; resolves once it listens. */
export async function startDaemon(
  args: readonly string[],
  options: StartOptions = {},
): Promise<RunningDaemon> {
  const argv = [
    options.node ?? process.execPath,
    options.main ?? builtMain,
    "--web.listen-address=127.0.0.1:0",
    ...args,
  ];
  const [file, ...rest] = [...(options.wrapper ?? []), ...argv];
  const child = spawn(file ?? process.execPath, rest, {
    stdio: ["ignore", "pipe", "pipe"],
    env: options.env ?? { PATH: process.env["PATH"] ?? "/usr/bin:/bin" },
  });
  const logs: string[] = [];
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = "";
    const timer = setTimeout(
      () => reject(new Error(`daemon did not listen in 10 s: ${stderr}`)),
      10_000,
    );
    child.stdout?.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        logs.push(line);
        const parsed = JSON.parse(line) as { msg?: string; port?: number };
        if (parsed.msg === "listening" && parsed.port) {
          clearTimeout(timer);
          resolve(parsed.port);
        }
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code}: ${stderr}`));
    });
  });
  const stop = async (): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    const kill = setTimeout(() => child.kill("SIGKILL"), 6000);
    const [code] = (await exited) as [number | null];
    clearTimeout(kill);
    return code;
  };
  return { child, port, logs, url: (path) => `http://127.0.0.1:${port}${path}`, stop };
}

/** Polls /metrics (or `path`) until `ready` holds for the body; returns that body. */
export async function waitForMetrics(
  daemon: RunningDaemon,
  ready: (body: string) => boolean,
  timeoutMs = 15_000,
  path = "/metrics",
): Promise<string> {
  return (await expectSoon(daemon, "the awaited series", ready, timeoutMs, path)).body;
}

/** Series lines only ("name{labels} value"), without comments and blank lines. */
export function seriesLines(body: string): string[] {
  return body.split("\n").filter((line) => line !== "" && !line.startsWith("#"));
}

/** The value of the one series that starts with `prefix` (name plus labels), if present. */
export function valueOf(body: string, series: string): number | undefined {
  const line = seriesLines(body).find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
