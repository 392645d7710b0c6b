// The network side of the bench: iperf3 and ping from the laptop's namespace to the internet's
// iperf3 server, the 20 Mbit/s bottleneck on the phone<->exit link, and the direct path (the same
// namespaces, the phone routing like a tethering phone would, no Tether) switched on and off.

import { fileURLToPath } from "node:url";
import { ROOT } from "../e2e/chain.js";
import { INTERNET_NAMES } from "../e2e/internet.js";
import { waitForListening } from "../e2e/probe.js";
import { ADDR, IFNAME, type Topology } from "../e2e/topology.js";
import type { DnsProbeResult } from "./dns.js";
import { IperfError, type IperfResult, type PingResult, parseIperf, parsePing } from "./stats.js";

/** The tunnel's MTU (the exit's default), which the direct path copies so both carry the same TCP MSS. */
export const TUNNEL_MTU = 1400;
/** Headers of a full-size TCP packet: IPv4 20 + TCP 20 + timestamps 12 bytes. */
export const TCP_HEADER_BYTES = 52;
/** TCP payload in one tunnel-MTU packet. */
export const TCP_PAYLOAD_PER_PACKET = TUNNEL_MTU - TCP_HEADER_BYTES;

/** The bottleneck, as the issue and the peers' table make it, applied on both ends of the carrier link. */
export const BOTTLENECK_TBF = ["tbf", "rate", "20mbit", "burst", "32kbit", "latency", "50ms"] as const;

/** Between two pings, s: every 50 ms, as in the peers' measurements. */
const PING_INTERVAL_S = "0.05";
/** A ping unanswered this long is lost, s. */
const PING_LINGER_S = 2;
/** Allowance on top of a measurement's own length for start-up, connection and the final report, ms. */
const COMMAND_SLACK_MS = 20_000;
/** Between two DNS queries of the sparse-flow probe, ms: many queries, still a sparse flow (~4 kB/s). */
const DNS_INTERVAL_MS = 20;
/** A DNS query unanswered this long is lost (a stub resolver would retry), ms; as ping's -W 2. */
const DNS_TIMEOUT_MS = 2_000;
const DNS_PROBE_SCRIPT = fileURLToPath(new URL("./dns-probe.ts", import.meta.url));

const SERVER: string = ADDR.egress.internet;
/** The bench's own one-off iperf3 servers listen here (startInternet's long-running one is not used). */
const IPERF_PORT = 5202;

export type Direction = "up" | "down";

export interface IperfOptions {
  direction: Direction;
  seconds: number;
  /** The inner TCP's congestion control at the sender; the namespace default (cubic) when absent. */
  congestion?: string | undefined;
  /** The internet's address to measure to (default its IPv4 one; bench/ipv6-pass.ts gives its IPv6 one). */
  server?: string | undefined;
}

/** One iperf3 transfer laptop -> internet (up) or internet -> laptop (down, -R). */
export async function iperf(topology: Topology, options: IperfOptions): Promise<IperfResult> {
  const args = ["-t", String(options.seconds)];
  if (options.direction === "down") args.push("-R");
  if (options.congestion !== undefined) args.push("-C", options.congestion);
  return parseIperf(await iperfJson(topology, args, options.seconds, options.server));
}

/**
 * Runs `iperf3 -c <internet> -J ARGS` from the laptop against a fresh one-off server
 * (`iperf3 -s -1`), so a server left in a bad state by an earlier test (iperf3 3.12 has stopped
 * listening after one) cannot fail the next. Returns the client's JSON; on failure, with the server's
 * words appended to an IperfError.
 */
export async function iperfJson(
  topology: Topology,
  args: readonly string[],
  seconds: number,
  address = SERVER,
): Promise<string> {
  const server = topology.spawn("internet", ["iperf3", "-s", "-1", "-B", address, "-p", String(IPERF_PORT)]);
  try {
    await waitForListening(topology, "internet", { proto: "tcp", port: IPERF_PORT, child: server });
    const { stdout } = await topology.exec(
      "laptop",
      ["iperf3", "-c", address, "-p", String(IPERF_PORT), "-J", ...args],
      { timeoutMs: seconds * 1000 + COMMAND_SLACK_MS },
    );
    if (/"error"\s*:/.test(stdout) || !stdout.trim().startsWith("{")) {
      throw new IperfError(
        `iperf3 ${args.join(" ")}: ${stdout.slice(0, 500)}\nserver: ${topology.logTail(server)}`,
      );
    }
    return stdout;
  } finally {
    if (!topology.destroyed) await topology.kill(server, 1_000);
  }
}

/**
 * Pings the internet from the laptop every 50 ms for `seconds` (root may ping that often), then
 * waits up to 2 s more for the last replies: a ping is lost only when no reply came within 2 s
 * (with -w alone, ping stops at the deadline and counts the pings still in flight as lost).
 */
export async function ping(topology: Topology, seconds: number, server = SERVER): Promise<PingResult> {
  const count = String(Math.max(1, Math.round(seconds / Number(PING_INTERVAL_S))));
  const deadline = String(seconds + PING_LINGER_S);
  const { stdout } = await topology.exec(
    "laptop",
    ["ping", "-n", "-i", PING_INTERVAL_S, "-c", count, "-w", deadline, "-W", String(PING_LINGER_S), server],
    { timeoutMs: (seconds + PING_LINGER_S) * 1000 + COMMAND_SLACK_MS },
  );
  return parsePing(stdout);
}

/**
 * DNS queries from the laptop to the internet's dnsmasq (dns-probe.ts): one every 20 ms from
 * `startAt` (epoch ms) for `seconds`, each timed alone. The probe starts at once, so that its
 * start-up is over before its window opens.
 */
export async function dnsQueries(
  topology: Topology,
  startAt: number,
  seconds: number,
  server = SERVER,
): Promise<DnsProbeResult> {
  const argv = [process.execPath, "--import", "tsx", DNS_PROBE_SCRIPT, "--server", server];
  argv.push("--name", INTERNET_NAMES[0], "--start-at", String(startAt), "--seconds", String(seconds));
  argv.push("--interval-ms", String(DNS_INTERVAL_MS), "--timeout-ms", String(DNS_TIMEOUT_MS));
  const waitMs = Math.max(0, startAt - Date.now());
  const { stdout } = await topology.exec("laptop", argv, {
    timeoutMs: waitMs + seconds * 1000 + DNS_TIMEOUT_MS + COMMAND_SLACK_MS,
    cwd: ROOT,
  });
  try {
    return JSON.parse(stdout.trim().split("\n").pop() ?? "") as DnsProbeResult;
  } catch {
    throw new Error(`the DNS probe printed no result: ${stdout.slice(0, 300)}`);
  }
}

export interface LoadedProbes {
  transfer: IperfResult;
  ping: PingResult;
  dns: DnsProbeResult;
}

/**
 * A saturating transfer with two sparse flows alongside, pings every 50 ms and DNS queries every
 * 20 ms: they start `settleSeconds` into it (past slow start, when the queues have filled) and
 * stop a second before it ends.
 */
export async function sparseUnderLoad(
  topology: Topology,
  options: IperfOptions,
  settleSeconds: number,
): Promise<LoadedProbes> {
  const window = Math.max(1, options.seconds - settleSeconds - 1);
  const querying = dnsQueries(topology, Date.now() + settleSeconds * 1000, window, options.server);
  const transfer = iperf(topology, options);
  await sleep(settleSeconds * 1000);
  const pinging = ping(topology, window, options.server);
  const [t, p, d] = await Promise.all([transfer, pinging, querying]);
  return { transfer: t, ping: p, dns: d };
}

/** Puts the bottleneck on the carrier link, both ways (the phone's rmnet0 out, the exit's eth0 out). */
export async function shape(topology: Topology): Promise<void> {
  await topology.exec(
    "phone",
    ["tc", "qdisc", "replace", "dev", IFNAME.phone.carrier, "root", ...BOTTLENECK_TBF],
    {
      check: true,
    },
  );
  await topology.exec(
    "exit",
    ["tc", "qdisc", "replace", "dev", IFNAME.exit.carrier, "root", ...BOTTLENECK_TBF],
    {
      check: true,
    },
  );
}

export async function unshape(topology: Topology): Promise<void> {
  await topology.exec("phone", ["tc", "qdisc", "del", "dev", IFNAME.phone.carrier, "root"]);
  await topology.exec("exit", ["tc", "qdisc", "del", "dev", IFNAME.exit.carrier, "root"]);
}

/**
 * The direct path, in the same namespaces: the phone forwards (as a phone that tethers would), the
 * exit and the internet route the hotspot subnet back (no NAT: plain kernel routing), and the laptop
 * reaches the iperf3 server through its Wi-Fi with the tunnel's MTU on that one route (a /32, more
 * specific than Tether's 0/1 halves, so nothing else leaves the tunnel). Undone by directOff.
 */
export async function directOn(topology: Topology): Promise<void> {
  const hotspot = ADDR.hotspot.subnet;
  await topology.exec("exit", ["ip", "route", "replace", hotspot, "via", ADDR.carrier.phone], {
    check: true,
  });
  await topology.exec("internet", ["ip", "route", "replace", hotspot, "via", ADDR.egress.exit], {
    check: true,
  });
  await topology.exec("phone", ["sh", "-ec", "echo 1 > /proc/sys/net/ipv4/ip_forward"], { check: true });
  await topology.exec(
    "laptop",
    [
      "ip",
      "route",
      "replace",
      `${SERVER}/32`,
      "via",
      ADDR.hotspot.phone,
      "dev",
      IFNAME.laptop.hotspot,
      "mtu",
      String(TUNNEL_MTU),
    ],
    { check: true },
  );
}

/** Back to the topology's shape: the phone does not forward and the internet knows no hotspot. */
export async function directOff(topology: Topology): Promise<void> {
  await topology.exec("laptop", ["ip", "route", "del", `${SERVER}/32`]);
  await topology.exec("phone", ["sh", "-ec", "echo 0 > /proc/sys/net/ipv4/ip_forward"], { check: true });
  await topology.exec("internet", ["ip", "route", "del", ADDR.hotspot.subnet]);
  await topology.exec("exit", ["ip", "route", "del", ADDR.hotspot.subnet]);
}

/** Runs `measure` over the direct path, always switching it off again. */
export async function overDirect<T>(topology: Topology, measure: () => Promise<T>): Promise<T> {
  await directOn(topology);
  try {
    return await measure();
  } finally {
    if (!topology.destroyed) await directOff(topology);
  }
}

/** Congestion controls the kernel offers (bbr only if its module is there). */
export async function availableCongestionControls(topology: Topology): Promise<string[]> {
  const { stdout } = await topology.exec("laptop", [
    "cat",
    "/proc/sys/net/ipv4/tcp_available_congestion_control",
  ]);
  return stdout.trim().split(/\s+/);
}

/** Waits until a ping from the laptop gets through (the tunnel is up and routed), bounded. */
export async function waitForPath(topology: Topology, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { code } = await topology.exec("laptop", ["ping", "-n", "-c", "1", "-W", "1", SERVER], {
      timeoutMs: 5_000,
    });
    if (code === 0) return;
    if (Date.now() > deadline) throw new Error(`no path from the laptop to ${SERVER} within ${timeoutMs} ms`);
    await sleep(200);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Packets the kernel dropped on a TUN device because its reader did not keep up (TX dropped: the
 * device's queue toward the Node process was full); undefined if the device is not there.
 */
export async function tunTxDropped(
  topology: Topology,
  ns: "laptop" | "exit",
  device: string,
): Promise<number | undefined> {
  const { stdout, code } = await topology.exec(ns, ["ip", "-j", "-s", "link", "show", "dev", device]);
  if (code !== 0) return undefined;
  try {
    const [link] = JSON.parse(stdout) as { stats64?: { tx?: { dropped?: number } } }[];
    return link?.stats64?.tx?.dropped;
  } catch {
    return undefined;
  }
}
