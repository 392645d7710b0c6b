// `npm run bench`: how fast Tether is and how much delay it adds, on the e2e topology (four network
// namespaces, the real exit and `tether`, the built PWA in the phone's Chromium), each figure next to
// its baseline measured in the same run. Prints a table; writes results/bench.json and
// results/bench.svg. Everything it creates lives in its namespaces and is removed on every exit
// path (Ctrl-C, a failure, the overall deadline). Needs root. The README's "Benchmarks" section
// says what each figure means.
//
// Order (the TUN micro-benchmark first, alone, since it wants both cores):
//   1. bench/tun.ts, --runs times.
//   2. The chain, binary, batched. Per run: the bare relay ceiling (6 ways); TCP up and down through
//      Tether and over the direct path; idle ping both ways; sparse flows (pings, DNS queries)
//      beside a saturating upload and download, Tether then direct; then the 20 Mbit/s bottleneck:
//      for each congestion control, upload and download with the same sparse flows, Tether then direct.
//   3. --soak: a 10-minute transfer through the same chain, RSS sampled.
//   4. The same chain reopened with base64 on both legs: TCP up and down, per run.
//   5. A new chain whose laptop and exit get TETHER_MAX_PACKETS_PER_FRAME=1: TCP up and down, per run.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { EXIT_TUN, LAPTOP_TUN, ROOT, requireBuild } from "../e2e/chain.js";
import { startInternet } from "../e2e/internet.js";
import { addIpv6, startInternet6 } from "../e2e/ipv6.js";
import { createTopology, type Topology } from "../e2e/topology.js";
import { SUPER_PACKET_PREFIX_BYTES } from "../protocol/super-packet.js";
import { SUPER_PACKET_MAX_BYTES } from "../tun/device.js";
import { SEAL_OVERHEAD_BYTES } from "../tunnel/seal.js";
import { Ceiling, type CeilingOptions } from "./ceiling.js";
import {
  type BenchChain,
  chainCertificates,
  countersDelta,
  exitDrops,
  laptopDrops,
  phoneProcesses,
  relayCounters,
  startBenchChain,
  stopBenchChain,
  switchEncoding,
  type TunCounters,
  tunCounters,
} from "./chain.js";
import { deriveIpv6, IPV6_EXIT_ARGS, ipv6Pass } from "./ipv6-pass.js";
import { recordLoaded } from "./loaded-series.js";
import {
  availableCongestionControls,
  type Direction,
  iperf,
  iperfJson,
  overDirect,
  ping,
  shape,
  sleep,
  sparseUnderLoad,
  TCP_HEADER_BYTES,
  tunTxDropped,
  unshape,
} from "./net.js";
import { cpuDelta, cpuSnapshot, memory } from "./proc.js";
import { type Machine, Series, type Settings, summarize, table } from "./report.js";
import { difference, growthPct, maxDefined, median, round, summarizePing } from "./stats.js";
import { type Panel, renderChart } from "./svg.js";

const HELP = `npm run bench [-- OPTIONS]   (as root)

Measures Tether on the e2e topology and prints a table; writes results/bench.json and
results/bench.svg. See README.md, "Benchmarks".

  --runs N        runs per figure, medians reported (default 3)
  --quick         one run, short transfers: a smoke test of the bench (about 4 minutes)
  --soak          also a 10-minute transfer through Tether, reporting RSS growth
  --soak-seconds S  the soak's length (default 600)
  --no-tun        skip the TUN micro-benchmark (bench/tun.ts)
  --build         npm run build first (otherwise dist/ is used as it is)
  --help

Examples:
  sudo npm run bench -- --quick
  sudo npm run bench -- --runs 5 --soak
`;

/** Seconds each kind of measurement lasts. */
const DURATIONS = {
  full: { transfer: 8, shaped: 15, settle: 3, idle: 5, ceiling: 5 },
  quick: { transfer: 3, shaped: 6, settle: 2, idle: 2, ceiling: 2 },
} as const;
/** IP packets per DATA frame for the batched relay ceiling: a burst the laptop's reader hands over. */
const CEILING_BATCH_PACKETS = 32;
/**
 * The 64 KiB ceiling's one slot per message: the largest super-packet a TUN hands over with its
 * 4-byte prefix, plus the room sealing takes, so the message is as large as Tether's would be.
 */
const CEILING_64K_SLOT_BYTES = SUPER_PACKET_MAX_BYTES + SUPER_PACKET_PREFIX_BYTES + SEAL_OVERHEAD_BYTES;
/** The environment variable that turns batching off in the laptop and the exit (one packet per frame). */
const UNBATCHED_ENV = { TETHER_MAX_PACKETS_PER_FRAME: "1" };
/** Between two RSS samples during the soak, ms. */
const SOAK_SAMPLE_MS = 5_000;
/** The soak's RSS windows: the baseline starts this far in (after warm-up) and lasts as long, s. */
const SOAK_WARMUP_S = 60;
/** The whole bench at most, beyond its planned measurement time, ms (a hang ends in a teardown). */
const DEADLINE_SLACK_MS = 10 * 60_000;
/** One TUN micro-benchmark at most (it bounds itself at 90 s), ms. */
const TUN_BENCH_TIMEOUT_MS = 150_000;

const RESULTS_DIR = join(ROOT, "results");

interface Options {
  runs: number;
  quick: boolean;
  soak: boolean;
  soakSeconds: number;
  tun: boolean;
  build: boolean;
}

class UsageError extends Error {
  override name = "UsageError";
}

function parseFlags(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: {
        runs: { type: "string" },
        quick: { type: "boolean" },
        soak: { type: "boolean" },
        "soak-seconds": { type: "string" },
        "no-tun": { type: "boolean" },
        build: { type: "boolean" },
        help: { type: "boolean" },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseFlags(argv);
  if (values.help) return undefined;
  const quick = values.quick === true;
  const runs = values.runs === undefined ? (quick ? 1 : 3) : Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 20)
    throw new UsageError(`--runs wants 1 to 20: ${values.runs}`);
  const soakSeconds = values["soak-seconds"] === undefined ? 600 : Number(values["soak-seconds"]);
  if (!Number.isInteger(soakSeconds) || soakSeconds < 20 || soakSeconds > 3600) {
    throw new UsageError(`--soak-seconds wants 20 to 3600: ${values["soak-seconds"]}`);
  }
  return {
    runs,
    quick,
    soak: values.soak === true || values["soak-seconds"] !== undefined,
    soakSeconds,
    tun: values["no-tun"] !== true,
    build: values.build === true,
  };
}

const started = Date.now();
function log(message: string): void {
  const s = ((Date.now() - started) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[bench ${s}s] ${message}\n`);
}

// ------------------------------------------------------------------------------------------------
// Teardown on every path: the topology removes its namespaces and processes; the TUN benchmark is
// our own child (it removes its namespace itself on SIGTERM).

let topology: Topology | undefined;
let tunChild: ChildProcess | undefined;
let shuttingDown = false;

async function shutdown(reason: string, code: number): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  log(`${reason}: tearing down`);
  const child = tunChild;
  if (child) {
    // It removes its own namespace on SIGTERM; wait for that (bounded), then make sure it is gone.
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    child.kill("SIGKILL");
  }
  await topology?.destroy().catch((error: unknown) => log(`teardown: ${String(error)}`));
  process.exit(code);
}

function installHandlers(): void {
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => void shutdown(`got ${signal}`, 130));
  }
  process.on("exit", () => {
    if (tunChild && tunChild.exitCode === null && tunChild.signalCode === null) tunChild.kill("SIGTERM");
  });
}

// ------------------------------------------------------------------------------------------------
// Measurements

interface Context {
  topology: Topology;
  series: Series;
  options: Options;
  seconds: (typeof DURATIONS)[keyof typeof DURATIONS];
  /** The renderer that relays for the chain (the one busiest during its transfers), for RSS. */
  rendererPid: number | undefined;
  congestionWarned: Set<string>;
}

type Role = "laptop" | "renderer" | "exit" | "chromium_other";

interface TetherTransfer {
  gbit: number;
  wallSeconds: number;
  cpuSeconds: Record<Role, number>;
}

/** One iperf3 transfer through Tether, with the CPU of every process on the path and the relay's counters. */
async function tetherTransfer(
  ctx: Context,
  chain: BenchChain,
  prefix: string,
  direction: Direction,
): Promise<TetherTransfer> {
  const phone = phoneProcesses(ctx.topology);
  const pids = [chain.laptopPid, chain.exitPid, ...phone.map((p) => p.pid)];
  const dropsBefore = await exitDrops(chain);
  const laptopDropsBefore = laptopDrops(chain);
  const tunBefore = await tunDrops(ctx.topology);
  const relayBefore = await relayCounters(chain.phone);
  const tunCallsBefore = tunCounters(chain);
  const cpuBefore = cpuSnapshot(pids);
  const t0 = performance.now();
  const result = await iperf(ctx.topology, { direction, seconds: ctx.seconds.transfer });
  const wallSeconds = (performance.now() - t0) / 1000;
  const cpu = cpuDelta(cpuBefore, cpuSnapshot(pids));
  await sleep(TUN_STATS_SETTLE_MS);
  const tunCalls = tunCallsDelta(tunCallsBefore, tunCounters(chain));
  await sleep(LAPTOP_STATUS_SETTLE_MS);
  const laptopDropsAfter = laptopDrops(chain);
  const relay = countersDelta(relayBefore, await relayCounters(chain.phone));
  const dropsAfter = await exitDrops(chain);
  const tunAfter = await tunDrops(ctx.topology);

  const name = `${prefix}.${direction}`;
  ctx.series.add(`${name}.mbps`, result.mbps);
  if (relay) {
    const [packets, messages] =
      direction === "up" ? [relay.packetsUp, relay.messagesUp] : [relay.packetsDown, relay.messagesDown];
    ctx.series.add(`${name}.ppm`, messages > 0 ? packets / messages : undefined);
    const bytes = direction === "up" ? relay.bytesUp : relay.bytesDown;
    ctx.series.add(`${name}.bpm`, messages > 0 ? bytes / messages : undefined);
    ctx.series.add(
      `${name}.relay_drops`,
      Object.values(relay.drops).reduce((a, b) => a + b, 0),
    );
  }
  let exitDropped = 0;
  for (const [reason, count] of Object.entries(dropsAfter)) exitDropped += count - (dropsBefore[reason] ?? 0);
  ctx.series.add(`${name}.exit_drops`, exitDropped);
  let laptopDropped = 0;
  for (const [reason, count] of Object.entries(laptopDropsAfter)) {
    const dropped = count - (laptopDropsBefore[reason] ?? 0);
    laptopDropped += dropped;
    if (dropped > 0) ctx.series.add(`${name}.laptop_drops.${reason}`, dropped);
  }
  ctx.series.add(`${name}.laptop_drops`, laptopDropped);
  ctx.series.add(`${name}.laptop_tun_drops`, difference(tunAfter.laptop, tunBefore.laptop));
  ctx.series.add(`${name}.exit_tun_drops`, difference(tunAfter.exit, tunBefore.exit));
  ctx.series.add(`${name}.retransmits`, result.retransmits);
  for (const [key, value] of Object.entries(tunCalls)) ctx.series.add(`${name}.tun.${key}`, value);

  const cpuSeconds: Record<Role, number> = {
    laptop: cpu.get(chain.laptopPid) ?? 0,
    exit: cpu.get(chain.exitPid) ?? 0,
    renderer: 0,
    chromium_other: 0,
  };
  let busiest: { pid: number; seconds: number } | undefined;
  for (const p of phone) {
    const spent = cpu.get(p.pid) ?? 0;
    if (p.role === "renderer") {
      cpuSeconds.renderer += spent;
      if (!busiest || spent > busiest.seconds) busiest = { pid: p.pid, seconds: spent };
    } else {
      cpuSeconds.chromium_other += spent;
    }
  }
  if (busiest) ctx.rendererPid = busiest.pid;
  for (const role of Object.keys(cpuSeconds) as Role[]) {
    ctx.series.add(`cores.${name}.${role}`, cpuSeconds[role] / wallSeconds);
  }
  log(
    `${name}: ${result.mbps.toFixed(0)} Mbit/s; cores laptop ${(cpuSeconds.laptop / wallSeconds).toFixed(2)}, ` +
      `renderer ${(cpuSeconds.renderer / wallSeconds).toFixed(2)}, chromium other ${(cpuSeconds.chromium_other / wallSeconds).toFixed(2)}, ` +
      `exit ${(cpuSeconds.exit / wallSeconds).toFixed(2)}; inner TCP retransmits ${result.retransmits ?? "?"}, ` +
      `TUN drops laptop ${difference(tunAfter.laptop, tunBefore.laptop) ?? "?"} exit ${difference(tunAfter.exit, tunBefore.exit) ?? "?"}, ` +
      `relay drops ${relay ? Object.values(relay.drops).reduce((a, b) => a + b, 0) : "?"}, exit drops ${exitDropped}, ` +
      `laptop drops ${laptopDropped} ${JSON.stringify(diffDrops(laptopDropsBefore, laptopDropsAfter))}; ` +
      `packets per TUN call: ${Object.entries(tunCalls)
        .map(([key, value]) => `${key} ${value.toFixed(1)}`)
        .join(", ")}`,
  );
  return { gbit: (result.bytes * 8) / 1e9, wallSeconds, cpuSeconds };
}

/** After a transfer, until both TUN counter files were rewritten (every 200 ms), ms. */
const TUN_STATS_SETTLE_MS = 300;
/** ... and the laptop's status.json (every second, laptop/status-file.ts), ms. */
const LAPTOP_STATUS_SETTLE_MS = 800;

/** The counts that grew, by reason. */
function diffDrops(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const grown: Record<string, number> = {};
  for (const [reason, count] of Object.entries(after)) {
    if (count > (before[reason] ?? 0)) grown[reason] = count - (before[reason] ?? 0);
  }
  return grown;
}

/**
 * Packets per read() and per write() system call on the laptop's and the exit's TUN over an
 * interval, as the devices counted them (tun/stats-file.ts): what batching and offloads buy; and
 * how many super-packets they read and wrote whole.
 */
function tunCallsDelta(before: TunCounters, after: TunCounters): Record<string, number> {
  const figures: Record<string, number> = {};
  for (const side of ["laptop", "exit"] as const) {
    const a = before[side]?.stats;
    const b = after[side]?.stats;
    if (!a || !b) continue;
    const reads = b.readCalls - a.readCalls;
    const writes = b.writeCalls - a.writeCalls;
    if (reads > 0) figures[`${side}_read`] = (b.packetsRead - a.packetsRead) / reads;
    if (writes > 0) figures[`${side}_write`] = (b.packetsWritten - a.packetsWritten) / writes;
    if (reads > 0) figures[`${side}_read_bytes`] = (b.bytesRead - a.bytesRead) / reads;
    if (writes > 0) figures[`${side}_write_bytes`] = (b.bytesWritten - a.bytesWritten) / writes;
    figures[`${side}_super_packets_read`] = b.superPacketsRead - a.superPacketsRead;
    figures[`${side}_super_packets_written`] = b.superPacketsWritten - a.superPacketsWritten;
  }
  return figures;
}

/** TX drops of the laptop's and the exit's TUN devices (their readers fell behind the kernel). */
async function tunDrops(topology: Topology): Promise<{ laptop?: number; exit?: number }> {
  return {
    laptop: await tunTxDropped(topology, "laptop", LAPTOP_TUN),
    exit: await tunTxDropped(topology, "exit", EXIT_TUN),
  };
}

/** CPU-seconds per Gbit of one run's upload and download together, by process and in total. */
function addCpuPerGbit(ctx: Context, up: TetherTransfer, down: TetherTransfer): void {
  const per = (t: TetherTransfer[], roles: Role[]) => {
    const gbit = t.reduce((a, x) => a + x.gbit, 0);
    const seconds = t.reduce((a, x) => a + roles.reduce((s, role) => s + x.cpuSeconds[role], 0), 0);
    return gbit > 0 ? seconds / gbit : undefined;
  };
  const core: Role[] = ["laptop", "renderer", "exit"];
  for (const role of [...core, "chromium_other"] as Role[]) {
    ctx.series.add(`cpu.${role}`, per([up, down], [role]));
    ctx.series.add(`cpu.${role}_up`, per([up], [role]));
    ctx.series.add(`cpu.${role}_down`, per([down], [role]));
  }
  ctx.series.add("cpu.total", per([up, down], core));
  ctx.series.add("cpu.total_up", per([up], core));
  ctx.series.add("cpu.total_down", per([down], core));
  ctx.series.add("cpu.total_all", per([up, down], [...core, "chromium_other"]));
}

async function directTransfer(ctx: Context, direction: Direction): Promise<void> {
  const result = await overDirect(ctx.topology, () =>
    iperf(ctx.topology, { direction, seconds: ctx.seconds.transfer }),
  );
  ctx.series.add(`direct.${direction}.mbps`, result.mbps);
  log(`direct.${direction}: ${result.mbps.toFixed(0)} Mbit/s`);
}

async function idlePing(ctx: Context, path: "tether" | "direct"): Promise<void> {
  const measure = () => ping(ctx.topology, ctx.seconds.idle);
  const summary = summarizePing(
    path === "direct" ? await overDirect(ctx.topology, measure) : await measure(),
  );
  ctx.series.add(`idle.${path}.p50`, summary.p50Ms);
  ctx.series.add(`idle.${path}.p99`, summary.p99Ms);
  log(`idle ${path}: p50 ${summary.p50Ms?.toFixed(3)} ms, p99 ${summary.p99Ms?.toFixed(3)} ms`);
}

/**
 * Sparse flows beside a saturating transfer: pings every 50 ms and DNS queries every 20 ms, their
 * times and losses. `cc` undefined: unshaped, the namespace's default congestion control (series
 * `loaded.DIR.PATH.*`); else on the bottleneck with that one (`shaped.CC.DIR.PATH.*`).
 */
async function loadedProbes(
  ctx: Context,
  path: "tether" | "direct",
  cc: string | undefined,
  direction: Direction,
): Promise<void> {
  const measure = () =>
    sparseUnderLoad(
      ctx.topology,
      { direction, seconds: ctx.seconds.shaped, congestion: cc },
      ctx.seconds.settle,
    );
  const probes = path === "direct" ? await overDirect(ctx.topology, measure) : await measure();
  const { transfer } = probes;
  if (
    cc !== undefined &&
    transfer.senderCongestion !== undefined &&
    transfer.senderCongestion !== cc &&
    !ctx.congestionWarned.has(cc)
  ) {
    ctx.congestionWarned.add(cc);
    log(`warning: asked iperf3 for ${cc}, its sender used ${transfer.senderCongestion}`);
  }
  const name = cc === undefined ? `loaded.${direction}.${path}` : `shaped.${cc}.${direction}.${path}`;
  log(recordLoaded(ctx.series, name, probes));
}

async function ceilingRun(
  ctx: Context,
  ceiling: Ceiling,
  name: string,
  options: Omit<CeilingOptions, "seconds">,
) {
  const result = await ceiling.measure({ ...options, seconds: ctx.seconds.ceiling });
  ctx.series.add(`ceiling.${name}.mbps`, result.mbps);
  ctx.series.add(`ceiling.${name}.wire_mbps`, result.wireMbps);
  ctx.series.add(`ceiling.${name}.mps`, result.messagesPerSecond);
  ctx.series.add(`ceiling.${name}.renderer_cpu`, result.rendererCpuSPerGbit);
  const drops = result.relay ? Object.values(result.relay.drops).reduce((a, b) => a + b, 0) : undefined;
  ctx.series.add(`ceiling.${name}.relay_drops`, drops);
  log(
    `ceiling ${name}: ${result.mbps.toFixed(0)} Mbit/s, ${result.messagesPerSecond.toFixed(0)} messages/s, ` +
      `relay drops ${drops ?? "?"}, renderer ${result.rendererCpuSPerGbit?.toFixed(3)} CPU-s/Gbit`,
  );
}

function recordPeaks(ctx: Context, chain: BenchChain): void {
  ctx.series.add("rss.laptop", memory(chain.laptopPid).peakRssMb);
  ctx.series.add("rss.exit", memory(chain.exitPid).peakRssMb);
  if (ctx.rendererPid !== undefined) ctx.series.add("rss.renderer", memory(ctx.rendererPid).peakRssMb);
}

async function soak(ctx: Context, chain: BenchChain, seconds: number): Promise<Record<string, unknown>> {
  log(`soak: ${seconds} s of TCP both ways through Tether`);
  const pids: Record<string, number | undefined> = {
    laptop: chain.laptopPid,
    renderer: ctx.rendererPid,
    exit: chain.exitPid,
  };
  const samples: { t: number; laptop?: number; renderer?: number; exit?: number }[] = [];
  const sample = () => {
    const entry: (typeof samples)[number] = { t: Math.round((Date.now() - t0) / 1000) };
    for (const [role, pid] of Object.entries(pids)) {
      const rss = pid === undefined ? undefined : memory(pid).rssMb;
      if (rss !== undefined) entry[role as "laptop"] = round(rss, 1) ?? undefined;
    }
    samples.push(entry);
  };
  const t0 = Date.now();
  const transfer = iperfJson(ctx.topology, ["-t", String(seconds), "--bidir"], seconds);
  let done = false;
  const settle = () => {
    done = true;
  };
  transfer.then(settle, settle);
  sample();
  while (!done) {
    await Promise.race([transfer.catch(() => undefined), new Promise((r) => setTimeout(r, SOAK_SAMPLE_MS))]);
    if (!done) sample();
  }
  sample();
  const stdout = await transfer;
  let goodput: { up_mbps: number | null; down_mbps: number | null } = { up_mbps: null, down_mbps: null };
  try {
    const end = (
      JSON.parse(stdout) as {
        end?: {
          sum_received?: { bits_per_second: number };
          sum_received_bidir_reverse?: { bits_per_second: number };
        };
      }
    ).end;
    goodput = {
      up_mbps: round((end?.sum_received?.bits_per_second ?? Number.NaN) / 1e6, 1),
      down_mbps: round((end?.sum_received_bidir_reverse?.bits_per_second ?? Number.NaN) / 1e6, 1),
    };
  } catch {
    log("soak: iperf3 printed no JSON");
  }
  // RSS saws up and down with garbage collection, so the growth compares two windows' medians:
  // the first minute after warm-up and the last minute (a sixth of the soak each, if shorter).
  const window = Math.min(SOAK_WARMUP_S, seconds / 6);
  const last = samples[samples.length - 1]?.t ?? 0;
  const growth: Record<string, number | null> = {};
  for (const role of Object.keys(pids)) {
    const at = (from: number, to: number) =>
      median(samples.filter((s) => s.t >= from && s.t <= to).map((s) => s[role as "laptop"]));
    const first = at(window, 2 * window);
    const final = at(last - window, last);
    growth[role] = first === undefined || final === undefined ? null : round(growthPct([first, final]), 2);
  }
  const worst = maxDefined(...Object.values(growth).map((v) => v ?? undefined));
  log(`soak: RSS growth ${JSON.stringify(growth)} %, goodput ${JSON.stringify(goodput)}`);
  recordPeaks(ctx, chain);
  return {
    seconds,
    baseline_window_s: [window, 2 * window],
    final_window_s: [last - window, last],
    rss_growth_pct: round(worst, 2),
    rss_growth_pct_by_process: growth,
    goodput,
    rss_mb_samples: samples,
  };
}

function runTunBench(): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "bench/tun.ts")], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    tunChild = child;
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      err = (err + chunk.toString()).slice(-4000);
    });
    const timer = setTimeout(() => {
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 10_000).unref();
    }, TUN_BENCH_TIMEOUT_MS);
    child.on("exit", (code) => {
      clearTimeout(timer);
      tunChild = undefined;
      const last = out.trim().split("\n").pop() ?? "";
      try {
        const figures = JSON.parse(last) as Record<string, number>;
        if (code === 0) return resolve(figures);
      } catch {
        // reported below
      }
      reject(new Error(`bench/tun.ts exited ${code}:\n${out.slice(-2000)}${err}`));
    });
  });
}

// ------------------------------------------------------------------------------------------------

function machineInfo(): Machine {
  const first = (argv: string[]) => {
    try {
      return execFileSync(argv[0]!, argv.slice(1), {
        encoding: "utf8",
        timeout: 10_000,
        cwd: ROOT,
        stdio: ["ignore", "pipe", "ignore"],
      })
        .trim()
        .split("\n")[0]!;
    } catch {
      return "unknown";
    }
  };
  const dirty = first(["git", "status", "--porcelain", "--untracked-files=no"]) === "" ? "" : "+dirty";
  return {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memory_gib: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    chromium: first(["chromium", "--version"]),
    iperf3: first(["iperf3", "--version"]),
    commit: `${first(["git", "rev-parse", "--short", "HEAD"])}${dirty}`,
    date: new Date().toISOString(),
    loadavg_1min_start: Math.round(loadavg()[0]! * 100) / 100,
    loadavg_1min_end: undefined,
  };
}

/** Newest modification time of the sources a built file comes from. */
function newestSource(dirs: string[]): number {
  let newest = 0;
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.(ts|html|css)$/.test(entry.name) && !entry.name.endsWith(".test.ts"))
        newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  for (const dir of dirs) if (existsSync(join(ROOT, dir))) walk(join(ROOT, dir));
  return newest;
}

/** Builds if asked; says when dist/ was built and whether sources changed since. */
function checkBuild(build: boolean): { built: string; stale: boolean } {
  if (build) {
    log("npm run build");
    execFileSync("npm", ["run", "build"], {
      cwd: ROOT,
      stdio: ["ignore", "inherit", "inherit"],
      timeout: 300_000,
    });
  }
  requireBuild();
  const node = statSync(join(ROOT, "dist/node/laptop/cli.js")).mtimeMs;
  const pwa = statSync(join(ROOT, "dist/pwa/index.html")).mtimeMs;
  const stale =
    newestSource(["laptop", "exit", "protocol", "tun"]) > node || newestSource(["pwa", "protocol"]) > pwa;
  if (stale)
    log("warning: sources are newer than dist/: measuring the last build (add --build to rebuild first)");
  return { built: new Date(Math.min(node, pwa)).toISOString(), stale };
}

function chart(summary: ReturnType<typeof summarize>, series: Series): string {
  const s = summary as Record<string, unknown>;
  const n = (key: string) => s[key] as number | null;
  const shaped = s.shaped as Record<string, Record<string, number | null>>;
  const panels: Panel[] = [
    {
      title: "TCP goodput, no shaping",
      unit: "Mbit/s",
      scale: "log",
      bars: [
        { label: "Tether up (binary, batched)", value: n("tether_tcp_up_mbps"), kind: "tether" },
        { label: "Tether down", value: n("tether_tcp_down_mbps"), kind: "tether" },
        { label: "Tether up, base64", value: n("base64_tcp_up_mbps"), kind: "tether" },
        { label: "Tether down, base64", value: n("base64_tcp_down_mbps"), kind: "tether" },
        { label: "Tether up, unbatched", value: n("unbatched_tcp_up_mbps"), kind: "tether" },
        { label: "Tether down, unbatched", value: n("unbatched_tcp_down_mbps"), kind: "tether" },
        { label: "relay ceiling up, 32 pkt/msg", value: n("relay_ceiling_mbps"), kind: "ceiling" },
        { label: "relay ceiling down, 32 pkt/msg", value: n("relay_ceiling_down_mbps"), kind: "ceiling" },
        { label: "relay ceiling up, 1 pkt/msg", value: n("relay_ceiling_unbatched_mbps"), kind: "ceiling" },
        { label: "relay ceiling up, base64", value: n("relay_ceiling_base64_mbps"), kind: "ceiling" },
        { label: "relay ceiling up, 64 KiB/msg", value: n("relay_ceiling_64k_mbps"), kind: "ceiling" },
        { label: "relay ceiling down, 64 KiB/msg", value: n("relay_ceiling_64k_down_mbps"), kind: "ceiling" },
        { label: "direct up (kernel routing)", value: n("direct_tcp_up_mbps"), kind: "baseline" },
        { label: "direct down", value: n("direct_tcp_down_mbps"), kind: "baseline" },
      ],
    },
    {
      title: "TCP goodput on the 20 Mbit/s bottleneck",
      unit: "Mbit/s",
      scale: "linear",
      bars: Object.entries(shaped).flatMap(([name, row]) => [
        { label: `Tether ${name.replace("_", " ")}`, value: row.tether_mbps, kind: "tether" as const },
        { label: `direct ${name.replace("_", " ")}`, value: row.direct_mbps, kind: "baseline" as const },
      ]),
    },
    {
      title: "RTT (ping every 50 ms): idle, and on the bottleneck under load",
      unit: "ms",
      scale: "log",
      bars: [
        { label: "idle p50, Tether", value: series.median("idle.tether.p50"), kind: "tether" },
        { label: "idle p50, direct", value: series.median("idle.direct.p50"), kind: "baseline" },
        ...Object.entries(shaped).flatMap(([name, row]) => [
          {
            label: `${name.replace("_", " ")} p50, Tether`,
            value: row.tether_rtt_p50_ms,
            kind: "tether" as const,
          },
          {
            label: `${name.replace("_", " ")} p99, Tether`,
            value: row.tether_rtt_p99_ms,
            kind: "tether" as const,
          },
          {
            label: `${name.replace("_", " ")} p50, direct`,
            value: row.direct_rtt_p50_ms,
            kind: "baseline" as const,
          },
          {
            label: `${name.replace("_", " ")} p99, direct`,
            value: row.direct_rtt_p99_ms,
            kind: "baseline" as const,
          },
        ]),
      ],
    },
  ];
  const machine = s.machine as Machine;
  const settings = s.settings as Settings;
  return renderChart(
    "Tether benchmark",
    `${machine.cpu}, ${machine.cores} cores, ${machine.kernel}; commit ${machine.commit}; ${machine.date}; ` +
      `medians of ${settings.runs} run(s)`,
    panels,
  );
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (!options) {
    process.stdout.write(HELP);
    return;
  }
  if (process.getuid?.() !== 0) throw new Error("the bench creates network namespaces: run it as root");
  installHandlers();
  const dist = checkBuild(options.build);
  const seconds = options.quick ? DURATIONS.quick : DURATIONS.full;
  const plannedMs =
    options.runs * 400_000 * (options.quick ? 0.5 : 1) + (options.soak ? options.soakSeconds * 1000 : 0);
  setTimeout(
    () =>
      void shutdown(
        `the bench ran past its deadline (${Math.round((plannedMs + DEADLINE_SLACK_MS) / 60_000)} min)`,
        1,
      ),
    plannedMs + DEADLINE_SLACK_MS,
  ).unref();

  const machine = { ...machineInfo(), dist_built: dist.built, dist_older_than_sources: dist.stale };
  if (machine.loadavg_1min_start > 1) {
    log(
      `warning: load average ${machine.loadavg_1min_start}: other work shares the cores, figures will be low and noisy`,
    );
  }
  const series = new Series();

  if (options.tun) {
    for (let run = 1; run <= options.runs; run++) {
      log(`TUN micro-benchmark ${run}/${options.runs} (about 40 s)`);
      const figures = await runTunBench();
      series.add("tun.read_pps", figures.tun_read_pps);
      series.add("tun.write_pps", figures.tun_write_pps);
      log(`tun: read ${figures.tun_read_pps} pps, write ${figures.tun_write_pps} pps`);
    }
  }

  log("creating the topology and starting the internet, the exit, the laptop and the phone");
  topology = await createTopology({ tag: "bench", ipv6: true });
  await addIpv6(topology); // for the IPv6 pass (bench/ipv6-pass.ts)
  const ctx: Context = {
    topology,
    series,
    options,
    seconds,
    rendererPid: undefined,
    congestionWarned: new Set(),
  };
  await startInternet(topology, { iperf3: false }); // dnsmasq answers the DNS probe
  await startInternet6(topology); // and over IPv6
  const available = await availableCongestionControls(topology);
  const ccs = ["reno", ...(available.includes("bbr") ? ["bbr"] : [])];
  let chain = await startBenchChain(topology, { exitArgs: IPV6_EXIT_ARGS });
  log(`chain up: laptop pid ${chain.laptopPid}, exit pid ${chain.exitPid}`);

  const ceiling = await Ceiling.start(topology, chainCertificates(chain));
  for (let run = 1; run <= options.runs; run++) {
    log(`run ${run}/${options.runs}: relay ceiling`);
    await ceilingRun(ctx, ceiling, "up", {
      direction: "up",
      packets: CEILING_BATCH_PACKETS,
      encoding: "binary",
    });
    await ceilingRun(ctx, ceiling, "down", {
      direction: "down",
      packets: CEILING_BATCH_PACKETS,
      encoding: "binary",
    });
    await ceilingRun(ctx, ceiling, "up1", { direction: "up", packets: 1, encoding: "binary" });
    for (const direction of ["up", "down"] as const) {
      await ceilingRun(ctx, ceiling, `${direction}64k`, {
        direction,
        packets: 1,
        packetBytes: CEILING_64K_SLOT_BYTES,
        payloadBytes: SUPER_PACKET_MAX_BYTES - TCP_HEADER_BYTES,
        encoding: "binary",
      });
    }
    await ceilingRun(ctx, ceiling, "base64", {
      direction: "up",
      packets: CEILING_BATCH_PACKETS,
      encoding: "base64",
    });
    await ceiling.closePage();

    log(`run ${run}/${options.runs}: TCP goodput, Tether and direct`);
    const up = await tetherTransfer(ctx, chain, "tether", "up");
    await directTransfer(ctx, "up");
    const down = await tetherTransfer(ctx, chain, "tether", "down");
    await directTransfer(ctx, "down");
    addCpuPerGbit(ctx, up, down);

    log(`run ${run}/${options.runs}: idle RTT`);
    await idlePing(ctx, "tether");
    await idlePing(ctx, "direct");

    log(`run ${run}/${options.runs}: pings and DNS queries beside a saturating transfer, no shaping`);
    for (const direction of ["up", "down"] as const) {
      await loadedProbes(ctx, "tether", undefined, direction);
      await loadedProbes(ctx, "direct", undefined, direction);
    }

    log(`run ${run}/${options.runs}: 20 Mbit/s bottleneck (${ccs.join(", ")})`);
    await shape(topology);
    try {
      for (const cc of ccs) {
        for (const direction of ["up", "down"] as const) {
          await loadedProbes(ctx, "tether", cc, direction);
          await loadedProbes(ctx, "direct", cc, direction);
        }
      }
    } finally {
      if (!topology.destroyed) await unshape(topology);
    }

    log(`run ${run}/${options.runs}: over IPv6 (unshaped, idle, 20 Mbit/s reno)`);
    await ipv6Pass({ topology, series, seconds, log });
  }
  await ceiling.stop();
  recordPeaks(ctx, chain);

  const soakResult = options.soak ? await soak(ctx, chain, options.soakSeconds) : null;

  log("base64 on both legs");
  await switchEncoding(topology, chain, "base64");
  for (let run = 1; run <= options.runs; run++) {
    await tetherTransfer(ctx, chain, "base64", "up");
    await tetherTransfer(ctx, chain, "base64", "down");
  }
  recordPeaks(ctx, chain);
  await stopBenchChain(topology, chain);

  log(
    `batching off: laptop and exit restarted with ${Object.entries(UNBATCHED_ENV).map(([k, v]) => `${k}=${v}`)}`,
  );
  chain = await startBenchChain(topology, { env: UNBATCHED_ENV });
  for (let run = 1; run <= options.runs; run++) {
    await tetherTransfer(ctx, chain, "unbatched", "up");
    await tetherTransfer(ctx, chain, "unbatched", "down");
  }
  recordPeaks(ctx, chain);
  await stopBenchChain(topology, chain);

  // Ratios, run by run (each pair measured close together).
  for (const dir of ["up", "down"]) {
    series.derive(`tether.${dir}.vs_direct`, "ratio", `tether.${dir}.mbps`, `direct.${dir}.mbps`);
    series.derive(`base64.${dir}.vs_binary`, "ratio", `base64.${dir}.mbps`, `tether.${dir}.mbps`);
    series.derive(`unbatched.${dir}.vs_binary`, "ratio", `unbatched.${dir}.mbps`, `tether.${dir}.mbps`);
    for (const cc of ccs) {
      const p = `shaped.${cc}.${dir}`;
      series.derive(`${p}.ratio`, "ratio", `${p}.tether.mbps`, `${p}.direct.mbps`);
      series.derive(`${p}.added.p50`, "difference", `${p}.tether.p50`, `${p}.direct.p50`);
      series.derive(`${p}.added.p99`, "difference", `${p}.tether.p99`, `${p}.direct.p99`);
      series.derive(`${p}.tether.above_idle.p99`, "difference", `${p}.tether.p99`, "idle.tether.p50");
    }
    series.derive(
      `loaded.${dir}.tether.above_idle.p99`,
      "difference",
      `loaded.${dir}.tether.p99`,
      "idle.tether.p50",
    );
  }
  series.derive("tether.up.vs_ceiling", "ratio", "tether.up.mbps", "ceiling.up.mbps");
  series.derive("tether.down.vs_ceiling", "ratio", "tether.down.mbps", "ceiling.down.mbps");
  series.derive("tether.up.vs_ceiling64k", "ratio", "tether.up.mbps", "ceiling.up64k.mbps");
  series.derive("tether.down.vs_ceiling64k", "ratio", "tether.down.mbps", "ceiling.down64k.mbps");
  series.derive("unbatched.up.vs_ceiling", "ratio", "unbatched.up.mbps", "ceiling.up1.mbps");
  series.derive("base64.up.vs_ceiling", "ratio", "base64.up.mbps", "ceiling.base64.mbps");
  series.derive("idle.added.p50", "difference", "idle.tether.p50", "idle.direct.p50");
  series.derive("idle.added.p99", "difference", "idle.tether.p99", "idle.direct.p99");
  deriveIpv6(series);

  const durationS = Math.round((Date.now() - started) / 1000);
  const settings: Settings = {
    runs: options.runs,
    quick: options.quick,
    seconds: { ...seconds },
    congestion_controls: ccs,
    unbatched_env: Object.entries(UNBATCHED_ENV)
      .map(([k, v]) => `${k}=${v}`)
      .join(" "),
    duration_s: durationS,
  };
  machine.loadavg_1min_end = Math.round(loadavg()[0]! * 100) / 100;
  const summary = summarize(series, machine, settings, soakResult);
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, "bench.json"), `${JSON.stringify(summary, null, 2)}\n`);
  writeFileSync(join(RESULTS_DIR, "bench.svg"), chart(summary, series));

  await topology.destroy();
  topology = undefined;
  process.stdout.write(
    `\nTether benchmark: ${machine.cpu}, ${machine.cores} cores, ${machine.memory_gib} GiB, Linux ${machine.kernel}, ` +
      `Node ${machine.node}, ${machine.chromium}; commit ${machine.commit}; ` +
      `load average ${machine.loadavg_1min_start} at the start, ${machine.loadavg_1min_end} at the end\n` +
      `medians of ${options.runs} run(s)${options.quick ? " (--quick)" : ""}; took ${durationS} s\n\n`,
  );
  process.stdout.write(`${table(summary, series)}\n\n`);
  process.stdout.write(`wrote ${join(RESULTS_DIR, "bench.json")} and ${join(RESULTS_DIR, "bench.svg")}\n`);
}

main().then(
  () => process.exit(0),
  async (error: unknown) => {
    if (shuttingDown) return;
    if (error instanceof UsageError) {
      process.stderr.write(`bench: ${error.message} (see --help)\n`);
      process.exit(2);
    }
    process.stderr.write(
      `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    await shutdown("failure", 1);
  },
);
