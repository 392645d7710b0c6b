// The arithmetic of the benchmark and the parsers of the tools' output: pure functions, no I/O, so
// they are tested on fixtures (stats.test.ts) and the bench itself only wires them.

/** Median of the finite numbers given; undefined when there are none. */
export function median(values: readonly (number | undefined)[]): number | undefined {
  const sorted = values
    .filter((v): v is number => v !== undefined && Number.isFinite(v))
    .sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The p-th percentile (0..100) of samples, by linear interpolation between closest ranks (what
 * numpy calls "linear"); undefined for no samples.
 */
export function percentile(samples: readonly number[], p: number): number | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (Math.min(Math.max(p, 0), 100) / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low);
}

/** a - b, or undefined when either is. */
export function difference(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined ? undefined : a - b;
}

/** a / b, or undefined when either is, or b is 0. */
export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || b === 0 ? undefined : a / b;
}

/** The larger of the defined values (the worse of two directions, for delays). */
export function maxDefined(...values: (number | undefined)[]): number | undefined {
  const defined = values.filter((v): v is number => v !== undefined);
  return defined.length === 0 ? undefined : Math.max(...defined);
}

/** The smaller of the defined values (the worse of two directions, for goodput ratios). */
export function minDefined(...values: (number | undefined)[]): number | undefined {
  const defined = values.filter((v): v is number => v !== undefined);
  return defined.length === 0 ? undefined : Math.min(...defined);
}

/** Rounds for the JSON: enough digits to compare runs, no float noise. */
export function round(value: number | undefined, digits = 3): number | null {
  if (value === undefined || !Number.isFinite(value)) return null;
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export interface PingResult {
  /** Round-trip times of the replies, ms, in arrival order. */
  rttsMs: number[];
  transmitted: number;
  received: number;
}

/**
 * Reads iputils ping output: every "time=0.123 ms" reply line, and the "N packets transmitted,
 * M received" summary (absent when ping was killed; then the replies are all there is).
 */
export function parsePing(output: string): PingResult {
  const rttsMs: number[] = [];
  for (const match of output.matchAll(/\bicmp_seq=\d+ .*?\btime[=<]([\d.]+) ms/g)) {
    rttsMs.push(Number(match[1]));
  }
  const summary = output.match(/(\d+) packets transmitted, (\d+) (?:packets )?received/);
  const transmitted = summary ? Number(summary[1]) : rttsMs.length;
  const received = summary ? Number(summary[2]) : rttsMs.length;
  return { rttsMs, transmitted, received };
}

export interface PingSummary {
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  lossPct: number | undefined;
  samples: number;
}

export function summarizePing(result: PingResult): PingSummary {
  return {
    p50Ms: percentile(result.rttsMs, 50),
    p99Ms: percentile(result.rttsMs, 99),
    lossPct:
      result.transmitted === 0
        ? undefined
        : (100 * (result.transmitted - result.received)) / result.transmitted,
    samples: result.rttsMs.length,
  };
}

export interface IperfResult {
  /** Goodput as the receiver counted it, Mbit/s (10^6). */
  mbps: number;
  /** TCP payload bytes the receiver got. */
  bytes: number;
  seconds: number;
  /** Retransmissions the sender counted (undefined when iperf3 did not say). */
  retransmits: number | undefined;
  /** Congestion control of the sending side, as iperf3 reports it. */
  senderCongestion: string | undefined;
}

export class IperfError extends Error {
  override name = "IperfError";
}

/** Reads `iperf3 -J` output; throws IperfError with iperf3's own message when it failed. */
export function parseIperf(json: string): IperfResult {
  let doc: {
    error?: string;
    end?: {
      sum_received?: { bytes?: number; seconds?: number; bits_per_second?: number };
      sum_sent?: { retransmits?: number };
      sender_tcp_congestion?: string;
    };
  };
  try {
    doc = JSON.parse(json) as typeof doc;
  } catch {
    throw new IperfError(`iperf3 printed no JSON: ${json.slice(0, 300)}`);
  }
  if (doc.error) throw new IperfError(`iperf3: ${doc.error}`);
  const received = doc.end?.sum_received;
  if (received?.bits_per_second === undefined || received.bytes === undefined) {
    throw new IperfError("iperf3 JSON has no end.sum_received");
  }
  return {
    mbps: received.bits_per_second / 1e6,
    bytes: received.bytes,
    seconds: received.seconds ?? 0,
    retransmits: doc.end?.sum_sent?.retransmits,
    senderCongestion: doc.end?.sender_tcp_congestion,
  };
}

/** utime + stime of /proc/<pid>/stat, in clock ticks (the comm field may hold spaces and parens). */
export function parseProcStatTicks(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After the comm: state(3) ppid(4) ... utime is field 14, stime field 15 (1-based, man proc).
  return Number(fields[14 - 3]) + Number(fields[15 - 3]);
}

/** ppid from /proc/<pid>/stat. */
export function parseProcStatPpid(stat: string): number {
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

/** A "VmHWM:   123456 kB" style field of /proc/<pid>/status, in kB; undefined when absent. */
export function parseStatusKb(status: string, field: string): number | undefined {
  const match = status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
  return match ? Number(match[1]) : undefined;
}

/** Growth from the first to the last sample, percent; undefined with fewer than two samples. */
export function growthPct(samples: readonly number[]): number | undefined {
  if (samples.length < 2 || samples[0]! <= 0) return undefined;
  return (100 * (samples[samples.length - 1]! - samples[0]!)) / samples[0]!;
}
