// The benchmark's figures once over IPv6 (issue 13.7): in the same run and the same chain as the
// IPv4 figures, TCP goodput both ways unshaped, the idle round trip, and on the 20 Mbit/s
// bottleneck (reno) the goodput with pings and DNS queries beside it, all to the internet
// namespace's IPv6 address (e2e/ipv6.ts) through the exit's IPv6 masquerade. There is no direct
// IPv6 path to compare with (the topology's carrier is IPv4 only): the baseline is the same run's
// IPv4 figure through Tether.
import { ADDR6, E2E_POOL6 } from "../e2e/ipv6.js";
import type { Topology } from "../e2e/topology.js";
import { recordLoaded } from "./loaded-series.js";
import { type Direction, iperf, ping, shape, sparseUnderLoad, unshape } from "./net.js";
import type { Series } from "./report.js";
import { round, summarizePing } from "./stats.js";

/** Where the IPv6 pass sends its traffic: the internet namespace's IPv6 address (iperf3, ping, DNS). */
export const IPV6_SERVER = ADDR6.egress.internet;

/**
 * The exit's flags for the IPv6 pass: its laptops' IPv6 pool, and the internet namespace's
 * documentation prefix opened (the IPv6 egress guard refuses 2001:db8::/32 by default).
 */
export const IPV6_EXIT_ARGS = ["--pool6", E2E_POOL6, "--allow-egress", ADDR6.egress.subnet] as const;

/** The congestion control of the shaped IPv6 runs: the first of the IPv4 runs'. */
const SHAPED_CC = "reno";

export interface Ipv6PassContext {
  topology: Topology;
  series: Series;
  seconds: { transfer: number; shaped: number; settle: number; idle: number };
  log(message: string): void;
}

/** One pass of the IPv6 figures, into `series` under `v6.*`. */
export async function ipv6Pass(ctx: Ipv6PassContext): Promise<void> {
  const { topology, series, seconds, log } = ctx;
  for (const direction of ["up", "down"] as const) {
    const result = await iperf(topology, { direction, seconds: seconds.transfer, server: IPV6_SERVER });
    series.add(`v6.tether.${direction}.mbps`, result.mbps);
    series.add(`v6.tether.${direction}.retransmits`, result.retransmits);
    log(`v6 tether ${direction}: ${result.mbps.toFixed(1)} Mbit/s, ${result.retransmits ?? "?"} retransmits`);
  }
  const idle = summarizePing(await ping(topology, seconds.idle, IPV6_SERVER));
  series.add("v6.idle.tether.p50", idle.p50Ms);
  series.add("v6.idle.tether.p99", idle.p99Ms);
  log(`v6 idle tether: p50 ${idle.p50Ms?.toFixed(3)} ms, p99 ${idle.p99Ms?.toFixed(3)} ms`);
  await shape(topology);
  try {
    for (const direction of ["up", "down"] as const) {
      await shapedProbes(ctx, direction);
    }
  } finally {
    if (!topology.destroyed) await unshape(topology);
  }
}

async function shapedProbes(ctx: Ipv6PassContext, direction: Direction): Promise<void> {
  const probes = await sparseUnderLoad(
    ctx.topology,
    { direction, seconds: ctx.seconds.shaped, congestion: SHAPED_CC, server: IPV6_SERVER },
    ctx.seconds.settle,
  );
  ctx.log(recordLoaded(ctx.series, `v6.shaped.${SHAPED_CC}.${direction}.tether`, probes));
}

/** The IPv6 figures against the same run's IPv4 ones through Tether (ratios, run by run). */
export function deriveIpv6(series: Series): void {
  for (const dir of ["up", "down"]) {
    series.derive(`v6.tether.${dir}.vs_v4`, "ratio", `v6.tether.${dir}.mbps`, `tether.${dir}.mbps`);
    const p = `shaped.${SHAPED_CC}.${dir}.tether`;
    series.derive(`v6.${p}.vs_v4`, "ratio", `v6.${p}.mbps`, `${p}.mbps`);
    series.derive(`v6.${p}.above_idle.p99`, "difference", `v6.${p}.p99`, "v6.idle.tether.p50");
  }
}

/** The `ipv6` block of bench.json: medians, in the units their names say. */
export function ipv6Summary(series: Series): Record<string, unknown> {
  const r = (name: string, digits = 2) => round(series.median(name), digits);
  const shaped = (dir: string) => {
    const p = `v6.shaped.${SHAPED_CC}.${dir}.tether`;
    return {
      tether_mbps: r(`${p}.mbps`),
      vs_ipv4: r(`${p}.vs_v4`, 3),
      tether_rtt_p50_ms: r(`${p}.p50`),
      tether_rtt_p99_ms: r(`${p}.p99`),
      tether_rtt_p99_above_idle_ms: r(`${p}.above_idle.p99`),
      tether_ping_loss_pct: r(`${p}.loss`, 1),
      tether_dns_query_p99_ms: r(`${p}.dns_p99`),
      tether_dns_loss_pct: r(`${p}.dns_loss`, 1),
    };
  };
  return {
    tether_tcp_up_mbps: r("v6.tether.up.mbps", 1),
    tether_tcp_down_mbps: r("v6.tether.down.mbps", 1),
    up_vs_ipv4: r("v6.tether.up.vs_v4", 3),
    down_vs_ipv4: r("v6.tether.down.vs_v4", 3),
    inner_tcp_retransmits_up: r("v6.tether.up.retransmits", 0),
    inner_tcp_retransmits_down: r("v6.tether.down.retransmits", 0),
    idle_tether_rtt_p50_ms: r("v6.idle.tether.p50", 3),
    idle_tether_rtt_p99_ms: r("v6.idle.tether.p99", 3),
    [`shaped_${SHAPED_CC}_up`]: shaped("up"),
    [`shaped_${SHAPED_CC}_down`]: shaped("down"),
  };
}

type Row = Record<string, number | null>;
const num = (value: unknown): string =>
  typeof value === "number" ? value.toLocaleString("en-US", { maximumFractionDigits: 1 }) : "-";
const ratio = (value: unknown): string => (typeof value === "number" ? `${(value * 100).toFixed(0)}%` : "-");

/**
 * The IPv6 rows of the bench's table (report.ts's `section` and `add`): each figure over IPv6,
 * beside the same run's IPv4 figure through Tether.
 */
export function ipv6Rows(
  summary: Record<string, unknown>,
  section: (title: string) => void,
  add: (figure: string, tether: string, baseline?: string, compared?: string) => void,
): void {
  const v6 = summary.ipv6 as Record<string, unknown> | undefined;
  if (!v6) return;
  section(`over IPv6, Tether (baseline: Tether over IPv4, same run; 20 Mbit/s rows: ${SHAPED_CC})`);
  add(
    "TCP goodput up, Mbit/s",
    num(v6.tether_tcp_up_mbps),
    num(summary.tether_tcp_up_mbps),
    ratio(v6.up_vs_ipv4),
  );
  add(
    "TCP goodput down, Mbit/s",
    num(v6.tether_tcp_down_mbps),
    num(summary.tether_tcp_down_mbps),
    ratio(v6.down_vs_ipv4),
  );
  add("idle RTT p50, ms", num(v6.idle_tether_rtt_p50_ms), num(summary.idle_tether_rtt_p50_ms));
  const shaped4 = summary.shaped as Record<string, Row> | undefined;
  for (const dir of ["up", "down"]) {
    const row = v6[`shaped_${SHAPED_CC}_${dir}`] as Row;
    const v4 = shaped4?.[`${SHAPED_CC}_${dir}`] ?? {};
    const load = `20 Mbit/s, ${dir === "up" ? "upload" : "download"}`;
    add(`${load}: goodput Mbit/s`, num(row.tether_mbps), num(v4.tether_mbps), ratio(row.vs_ipv4));
    add(
      `${load}: RTT p50 / p99, ms`,
      `${num(row.tether_rtt_p50_ms)} / ${num(row.tether_rtt_p99_ms)}`,
      `${num(v4.tether_rtt_p50_ms)} / ${num(v4.tether_rtt_p99_ms)}`,
    );
    add(`${load}: ping loss %`, num(row.tether_ping_loss_pct), num(v4.tether_ping_loss_pct));
    add(
      `${load}: DNS query p99, ms / loss %`,
      `${num(row.tether_dns_query_p99_ms)} / ${num(row.tether_dns_loss_pct)}`,
      `${num(v4.tether_dns_query_p99_ms)} / ${num(v4.tether_dns_loss_pct)}`,
    );
  }
}
