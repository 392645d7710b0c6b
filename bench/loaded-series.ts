// One place that turns a saturating transfer with its sparse probes (bench/net.ts sparseUnderLoad)
// into series: goodput, ping p50/p99/loss and DNS p50/p99/loss under `name`. Used by the IPv4
// phases (bench/bench.ts) and the IPv6 pass (bench/ipv6-pass.ts), so both name their keys alike.
import { dnsLossPct } from "./dns.js";
import type { LoadedProbes } from "./net.js";
import type { Series } from "./report.js";
import { percentile, summarizePing } from "./stats.js";

/** Adds `name`.{mbps,p50,p99,loss,dns_p50,dns_p99,dns_loss} to `series`; returns the log line. */
export function recordLoaded(series: Series, name: string, probes: LoadedProbes): string {
  const { transfer, ping, dns } = probes;
  const summary = summarizePing(ping);
  const dnsP50 = percentile(dns.timesMs, 50);
  const dnsP99 = percentile(dns.timesMs, 99);
  const dnsLoss = dnsLossPct(dns);
  series.add(`${name}.mbps`, transfer.mbps);
  series.add(`${name}.p50`, summary.p50Ms);
  series.add(`${name}.p99`, summary.p99Ms);
  series.add(`${name}.loss`, summary.lossPct);
  series.add(`${name}.dns_p50`, dnsP50);
  series.add(`${name}.dns_p99`, dnsP99);
  series.add(`${name}.dns_loss`, dnsLoss);
  return (
    `${name}: ${transfer.mbps.toFixed(1)} Mbit/s, RTT p50 ${summary.p50Ms?.toFixed(1)} p99 ${summary.p99Ms?.toFixed(1)} ms, ` +
    `ping loss ${summary.lossPct?.toFixed(1)}%; DNS ${dns.sent} queries, p50 ${dnsP50?.toFixed(1)} ` +
    `p99 ${dnsP99?.toFixed(1)} ms, lost ${dnsLoss?.toFixed(1)}%`
  );
}
