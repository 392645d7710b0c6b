// Micro-benchmark of the Linux TUN device: packets/s written and read, against reading with
// fs.createReadStream (the old way). Needs root.
//
//   node --import tsx bench/tun.ts
//
// The parent creates a network namespace and runs itself inside it (`ip netns exec`), so every
// interface, address and route exists only there; the namespace is deleted on every exit path
// (also SIGINT, SIGTERM, a timeout). Inside, with 92-byte IPv4/UDP packets:
//   write:  the main thread writes packets 10.200.0.2 -> 10.201.0.5 into the device under test;
//           the kernel routes them into a blackhole (the write path and routing alone).
//   loop:   the same, but 10.201.0.0/24 is routed back out of the device (ip_forward on): each
//           written packet is forwarded into its reader, so writes and reads run together.
//   read:   a generator thread writes into a second TUN as fast as it can; the kernel forwards
//           the packets into the device under test, whose main thread only reads. On two cores
//           the generator (kernel forwarding costs it more than reading costs the reader) and
//           the reader share the CPUs, so this shows the generator's rate as much as the reader's.
//   drain:  the reader's own rate: the main thread blocks while the generator queues
//           DRAIN_PACKETS in the kernel (the reader stalls after MAX_BATCHES_IN_FLIGHT batches),
//           then the time to read them all is measured with the generator idle.
//   fs read, fs drain: the same two, the device under test being a blocking TUN fd read by
//           fs.createReadStream.
// The last line printed is a JSON object: tun_read_pps (drain), tun_write_pps (write),
// fs_stream_read_pps (the better of fs read and fs drain: the fs stream's drain is held back by
// a 64 KiB buffer allocated per packet, so its best showing keeps the comparison conservative),
// then tun_loop_read_pps and tun_loop_write_pps (loop), and the read and fs read rates alone.

import { execFileSync } from "node:child_process";
import { createReadStream, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { stopChild, TestNamespace } from "../testing/netns.js";
import { buildIpv4Udp } from "../testing/packets.js";
import type { TunDevice } from "../tun/device.js";
import { attachTun, loadLibc, openLinuxTun } from "../tun/linux.js";
import { MAX_BATCH_PACKETS, MAX_BATCHES_IN_FLIGHT } from "../tun/linux-reader.js";

/** How long each phase sends. */
const PHASE_MS = 3_000;
/** After a phase, how long packets still queued may take to arrive (counted, not timed). */
const DRAIN_MS = 200;
/** Packets the main thread writes per event-loop turn in the loop phase. */
const WRITE_BURST = 64;
/** UDP payload of each packet (a 92-byte IPv4 packet): small packets stress per-packet costs. */
const PAYLOAD_BYTES = 64;
/** The whole benchmark, inside, at most; past it the parent kills it and cleans up. */
const BENCH_TIMEOUT_MS = 90_000;
/** The device's transmit queue toward its reader (the kernel's default for a TUN is 500). */
const TX_QUEUE_PACKETS = 1000;
/** Packets queued for the drain phases (about 1 KiB of kernel memory each while queued). */
const DRAIN_PACKETS = 200_000;
/** Most the reader can have taken before it stalls: not counted as drained. */
const READ_BEFORE_STALL = MAX_BATCHES_IN_FLIGHT * MAX_BATCH_PACKETS;
/** A drain phase ends when no packet came for this long. */
const DRAIN_IDLE_MS = 300;

const DUT_ADDRESS = "10.200.0.1/24";
const GENERATOR_ADDRESS = "10.202.0.1/24";
const FORWARDED_ROUTE = "10.201.0.0/24";

async function outside(): Promise<void> {
  if (process.getuid?.() !== 0 || !existsSync("/dev/net/tun")) {
    console.error("bench/tun.ts needs root and /dev/net/tun");
    process.exit(2);
  }
  const namespace = TestNamespace.create(`tether-tunbench-${process.pid}`);
  process.on("exit", () => namespace.delete());
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
  const child = namespace.spawn(process.execPath, [
    "--import",
    tsx,
    fileURLToPath(import.meta.url),
    "--inside",
  ]);
  child.stdout.pipe(process.stdout);
  child.stderr.pipe(process.stderr);
  let exitCode: number | undefined;
  const stop = async (code: number) => {
    exitCode ??= code;
    await stopChild(child);
    namespace.delete();
    process.exit(exitCode);
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => void stop(130));
  const timer = setTimeout(() => {
    console.error(`bench/tun.ts: no result within ${BENCH_TIMEOUT_MS} ms`);
    void stop(1);
  }, BENCH_TIMEOUT_MS);
  child.on("exit", (code) => {
    clearTimeout(timer);
    void stop(code ?? 1);
  });
}

interface PhaseResult {
  phase: string;
  writePps: number;
  readPps: number;
  written: number;
  read: number;
  /** Handler calls (the fs stream: 'data' events). */
  batches: number;
  readerStalls: number;
  /** CPU time of this process (all threads, the generator's too) over wall time. */
  cores: number;
}

async function inside(): Promise<void> {
  sysctl("net.ipv4.ip_forward", "1");
  for (const scope of ["all", "default"]) {
    sysctl(`net.ipv4.conf.${scope}.rp_filter`, "0");
    sysctl(`net.ipv4.conf.${scope}.send_redirects`, "0"); // the loop forwards out of the arrival interface
    sysctl(`net.ipv6.conf.${scope}.disable_ipv6`, "1");
  }
  const results: PhaseResult[] = [];
  const tun = await openLinuxTun({ name: "tbench%d" });
  const generator = await startGenerator();
  try {
    configure(tun.name, DUT_ADDRESS);
    let read = 0;
    let batches = 0;
    tun.onPackets((packets) => {
      read += packets.length;
      batches++;
    });
    const counters = () => ({ read, batches, stats: tun.stats });

    ip("route", "replace", "blackhole", FORWARDED_ROUTE);
    results.push(await writePhase(tun, counters));
    ip("route", "replace", FORWARDED_ROUTE, "dev", tun.name);
    results.push(await loopPhase(tun, counters));
    results.push(await readPhase("read: worker reader", generator, counters));
    results.push(await drainPhase("drain: worker reader", tun.name, generator, counters, READ_BEFORE_STALL));
  } finally {
    await tun.close();
  }
  // The old way: a blocking TUN fd, owned (and closed) by an fs read stream.
  const { fd, name } = attachTun(loadLibc(), "tbenchfs%d", { nonBlocking: false });
  let fsRead = 0;
  const stream = createReadStream("", { fd, highWaterMark: 65_536 });
  stream.on("data", () => {
    fsRead++; // a TUN read returns one packet
  });
  stream.on("error", (error) => console.error(`fs stream: ${error.message}`));
  try {
    configure(name, DUT_ADDRESS);
    ip("route", "replace", FORWARDED_ROUTE, "dev", name);
    const fsCounters = () => ({ read: fsRead, batches: fsRead });
    results.push(await readPhase("read: fs.createReadStream", generator, fsCounters));
    results.push(await drainPhase("drain: fs.createReadStream", name, generator, fsCounters, 1));
  } finally {
    const closed = new Promise<void>((resolve) => stream.once("close", () => resolve()));
    stream.destroy();
    // The stream's last read() blocks in the thread pool until a packet comes: send it one.
    generator.runBlocking(1);
    await closed;
    await generator.stop();
  }

  printTable(results);
  const [write, loop, tunRead, tunDrain, fsStreamRead, fsStreamDrain] = results;
  console.log(
    JSON.stringify({
      tun_read_pps: Math.round(tunDrain?.readPps ?? 0),
      tun_write_pps: Math.round(write?.writePps ?? 0),
      fs_stream_read_pps: Math.round(Math.max(fsStreamDrain?.readPps ?? 0, fsStreamRead?.readPps ?? 0)),
      tun_loop_read_pps: Math.round(loop?.readPps ?? 0),
      tun_loop_write_pps: Math.round(loop?.writePps ?? 0),
      tun_read_pps_with_generator: Math.round(tunRead?.readPps ?? 0),
      fs_stream_read_pps_with_generator: Math.round(fsStreamRead?.readPps ?? 0),
      fs_stream_drain_pps: Math.round(fsStreamDrain?.readPps ?? 0),
    }),
  );
  process.exit(0);
}

function packetFrom(source: string): Uint8Array {
  return buildIpv4Udp({
    source,
    destination: "10.201.0.5",
    sourcePort: 4444,
    destinationPort: 9999,
    payload: new Uint8Array(PAYLOAD_BYTES).fill(0xab),
  });
}

type Counters = () => { read: number; batches: number; stats?: TunDevice["stats"] };

async function writePhase(tun: TunDevice, counters: Counters): Promise<PhaseResult> {
  const packet = packetFrom("10.200.0.2");
  return measure("write (blackhole)", counters, async (running) => {
    while (running()) {
      for (let i = 0; i < WRITE_BURST * 16; i++) tun.write(packet);
      await turn();
    }
  });
}

async function loopPhase(tun: TunDevice, counters: Counters): Promise<PhaseResult> {
  const packet = packetFrom("10.200.0.2");
  return measure("loop: write + read", counters, async (running) => {
    while (running()) {
      for (let i = 0; i < WRITE_BURST; i++) tun.write(packet);
      await turn();
    }
  });
}

async function readPhase(phase: string, generator: Generator, counters: Counters): Promise<PhaseResult> {
  const result = await measure(phase, counters, async () => {
    await generator.run(PHASE_MS);
  });
  return { ...result, written: generator.written(), writePps: generator.written() / (PHASE_MS / 1000) };
}

/**
 * Queues DRAIN_PACKETS in the kernel while this thread is blocked, then times reading them.
 * `readBeforeStall` (what the reader may have taken before it stalled) is not counted.
 */
async function drainPhase(
  phase: string,
  device: string,
  generator: Generator,
  counters: Counters,
  readBeforeStall: number,
): Promise<PhaseResult> {
  ip("link", "set", "dev", device, "txqueuelen", String(DRAIN_PACKETS + 10_000));
  const before = counters();
  const written = generator.runBlocking(DRAIN_PACKETS);
  const cpu = process.cpuUsage();
  const started = performance.now();
  let last = counters().read;
  let lastProgress = started;
  while (performance.now() - lastProgress < DRAIN_IDLE_MS) {
    await new Promise((resolve) => setTimeout(resolve, 1));
    const now = counters().read;
    if (now !== last) {
      last = now;
      lastProgress = performance.now();
    }
  }
  const seconds = (lastProgress - started) / 1000;
  const used = process.cpuUsage(cpu);
  const after = counters();
  ip("link", "set", "dev", device, "txqueuelen", String(TX_QUEUE_PACKETS));
  const read = after.read - before.read;
  return {
    phase,
    writePps: 0,
    readPps: Math.max(0, read - readBeforeStall) / seconds,
    written,
    read,
    batches: after.batches - before.batches,
    readerStalls: (after.stats?.readerStalls ?? 0) - (before.stats?.readerStalls ?? 0),
    cores: (used.user + used.system) / 1e6 / seconds,
  };
}

/** Runs `work` for PHASE_MS, then lets queued packets arrive; rates are over the PHASE_MS only. */
async function measure(
  phase: string,
  counters: Counters,
  work: (running: () => boolean) => Promise<void>,
): Promise<PhaseResult> {
  const before = counters();
  const cpu = process.cpuUsage();
  const started = performance.now();
  await work(() => performance.now() - started < PHASE_MS);
  const seconds = (performance.now() - started) / 1000;
  const during = counters();
  const used = process.cpuUsage(cpu);
  await new Promise((resolve) => setTimeout(resolve, DRAIN_MS));
  const after = counters();
  const written = (during.stats?.packetsWritten ?? 0) - (before.stats?.packetsWritten ?? 0);
  return {
    phase,
    writePps: written / seconds,
    readPps: (during.read - before.read) / seconds,
    written,
    read: after.read - before.read,
    batches: after.batches - before.batches,
    readerStalls: (after.stats?.readerStalls ?? 0) - (before.stats?.readerStalls ?? 0),
    cores: (used.user + used.system) / 1e6 / seconds,
  };
}

interface Generator {
  /** Writes packets as fast as it can for `ms`, on its own thread. */
  run(ms: number): Promise<void>;
  /** Writes `count` packets as fast as it can, blocking this thread until done; how many went in. */
  runBlocking(count: number): number;
  /** Packets the last run wrote. */
  written(): number;
  stop(): Promise<void>;
}

// Generator control slots: the command (0 idle, -1 stop, else run), its argument, the result.
const COMMAND = 0;
const ARGUMENT = 1;
const WRITTEN = 2;
const RUN_FOR_MS = 1;
const RUN_COUNT = 2;
const STOP = -1;

/**
 * A second TUN, 10.202.0.1/24, and a worker thread writing packets 10.202.0.2 -> 10.201.0.5 into
 * it with libc write(): the kernel forwards them to whatever FORWARDED_ROUTE points at.
 */
async function startGenerator(): Promise<Generator> {
  const sys = loadLibc();
  const { fd, name } = attachTun(sys, "tgen%d", { nonBlocking: true });
  configure(name, GENERATOR_ADDRESS);
  const control = new Int32Array(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT));
  const koffi = createRequire(import.meta.url).resolve("koffi");
  const worker = new Worker(
    `
    const { workerData } = require("node:worker_threads");
    const koffi = require(${JSON.stringify(koffi)});
    const write = koffi.load("libc.so.6").func("intptr_t write(int fd, const void *buf, size_t count)");
    const { fd, packet, control } = workerData;
    for (;;) {
      Atomics.wait(control, ${COMMAND}, 0);
      const command = Atomics.exchange(control, ${COMMAND}, 0);
      if (command === ${STOP}) break;
      const argument = Atomics.load(control, ${ARGUMENT});
      let written = 0;
      if (command === ${RUN_FOR_MS}) {
        const until = performance.now() + argument;
        while (performance.now() < until) {
          for (let i = 0; i < 256; i++) if (write(fd, packet, packet.length) > 0) written++;
        }
      } else {
        for (let i = 0; i < argument; i++) if (write(fd, packet, packet.length) > 0) written++;
      }
      Atomics.store(control, ${WRITTEN}, written);
      Atomics.notify(control, ${WRITTEN});
    }
    `,
    { eval: true, workerData: { fd, packet: packetFrom("10.202.0.2"), control } },
  );
  const start = (command: number, argument: number) => {
    Atomics.store(control, WRITTEN, -1);
    Atomics.store(control, ARGUMENT, argument);
    Atomics.store(control, COMMAND, command);
    Atomics.notify(control, COMMAND);
  };
  return {
    async run(ms) {
      start(RUN_FOR_MS, ms);
      // Wait without blocking this thread: it has packets to read meanwhile.
      while (Atomics.load(control, WRITTEN) === -1) await new Promise((resolve) => setTimeout(resolve, 5));
    },
    runBlocking(count) {
      start(RUN_COUNT, count);
      while (Atomics.load(control, WRITTEN) === -1) Atomics.wait(control, WRITTEN, -1, 1_000);
      return Atomics.load(control, WRITTEN);
    },
    written: () => Math.max(0, Atomics.load(control, WRITTEN)),
    async stop() {
      Atomics.store(control, COMMAND, STOP);
      Atomics.notify(control, COMMAND);
      await new Promise((resolve) => worker.once("exit", resolve));
      sys.close(fd);
    },
  };
}

function configure(name: string, address: string): void {
  ip("addr", "replace", address, "dev", name);
  ip("link", "set", "dev", name, "up", "txqueuelen", String(TX_QUEUE_PACKETS));
}

function printTable(results: PhaseResult[]): void {
  const rows = [
    ["phase", "write pps", "read pps", "written", "read", "pkts/batch", "stalls", "cores"],
    ...results.map((r) => [
      r.phase,
      Math.round(r.writePps).toLocaleString("en"),
      Math.round(r.readPps).toLocaleString("en"),
      String(r.written),
      String(r.read),
      r.batches > 0 ? (r.read / r.batches).toFixed(1) : "-",
      String(r.readerStalls),
      r.cores.toFixed(2),
    ]),
  ];
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  for (const row of rows)
    console.log(row.map((cell, column) => cell.padStart(widths[column] ?? 0)).join("  "));
  const [, , tunRead, tunDrain, fsRead, fsDrain] = results;
  if (tunRead && fsRead && tunDrain && fsDrain && fsRead.readPps > 0 && fsDrain.readPps > 0) {
    const fsBest = Math.max(fsRead.readPps, fsDrain.readPps);
    console.log(
      `worker reader / fs stream: ${(tunDrain.readPps / fsBest).toFixed(1)}x (drain / fs best), ` +
        `${(tunRead.readPps / fsRead.readPps).toFixed(1)}x with the generator running`,
    );
  }
}

function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "inherit"] });
}

function sysctl(key: string, value: string): void {
  execFileSync("sysctl", ["-q", "-w", `${key}=${value}`], { stdio: ["ignore", "ignore", "inherit"] });
}

// Last, so that every constant above is initialised.
if (process.argv[2] === "--inside") {
  await inside();
} else {
  await outside();
}
