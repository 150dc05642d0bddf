/** What the probe collector finds: one result per path (apart, so its helpers import no collector). */
export type ProbePath = "port" | "network";

export interface ProbePathFacts {
  readonly path: ProbePath;
  /** False when this setup offers no way to probe the path; `reason` says why. */
  readonly supported: boolean;
  readonly reason?: string;
  readonly ok?: boolean;
  readonly error?: string;
  readonly ranAt?: number;
  readonly bytes?: number;
  readonly seconds?: number;
  readonly bytesPerSecond?: number;
  /** The address the receiving end saw, and whether it was the sender's own. */
  readonly peer?: string;
  readonly sourceIpPropagated?: boolean;
  /** The network path: the host address the agent connected to, and how it was chosen. */
  readonly target?: { readonly address: string; readonly from: "flag" | "gateway" | "host" };
  /** CPU the receiving side spent (the exporter on the port path, the agent on the network path). */
  readonly agentCpuSeconds?: number;
}

export interface ProbeFacts {
  readonly port: ProbePathFacts;
  readonly network: ProbePathFacts;
}
