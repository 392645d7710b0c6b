// Micro-benchmark of protocol v2's per-frame sealing (tunnel/seal.ts): seal and open throughput
// per core, for 64 KiB frames (a full batch or super-packet) and 1.4 kB frames (one MTU packet,
// the worst case: the fixed cost of each AEAD call dominates). No network, no root.
//
//   node --import tsx bench/seal-bench.ts [--quick]
//
// Each case seals or opens CASE_BYTES of frames (QUICK_CASE_BYTES with --quick) after a warm-up,
// measured in CPU time of this process (process.cpuUsage), so a machine shared with other work
// still shows what one core does (contention for caches and memory still shows in the figures:
// run it on a quiet machine for the record). Per case: MB per CPU-second, Gbit/s per core, and CPU-seconds per Gbit, the
// figure issue 11 budgets (at most 0.15 per Node end: each end seals what it sends and opens
// what it receives, so one direction costs one end a seal and the other an open). The last line
// is a JSON object with the same figures.
import { encodeData } from "../protocol/codec.js";
import { FrameOpener, FrameSealer } from "../tunnel/seal.js";

/** Bytes of frames per case: about a CPU-second of work, long enough for a stable figure. */
const CASE_BYTES = 1024 * 1024 * 1024;
const QUICK_CASE_BYTES = 128 * 1024 * 1024;
/** Frames run before each case is measured: the JIT and the heap settle first. */
const WARMUP_FRAMES = 500;
/** Frames sealed up front for the open cases: a ring larger than the replay window is not needed. */
const OPEN_RING = 64;

const FRAME_SIZES = [
  { name: "64KiB", bytes: 64 * 1024 },
  { name: "1.4kB", bytes: 1400 },
];

interface Figure {
  frames: number;
  bytes: number;
  cpuSeconds: number;
  mbPerCpuSecond: number;
  gbitPerCore: number;
  cpuSecondsPerGbit: number;
}

/** A DATA frame of exactly `bytes` (header and length prefix included): one packet filling it. */
function dataFrame(bytes: number): Uint8Array {
  const packet = new Uint8Array(bytes - 8 - 2);
  packet[0] = 0x45;
  for (let i = 1; i < packet.length; i++) packet[i] = (i * 31) & 0xff;
  return encodeData([packet]);
}

function measure(frames: number, step: () => number): Figure {
  for (let i = 0; i < WARMUP_FRAMES; i++) step();
  const start = process.cpuUsage();
  let bytes = 0;
  for (let i = 0; i < frames; i++) bytes += step();
  const used = process.cpuUsage(start);
  const cpuSeconds = (used.user + used.system) / 1e6;
  const gbit = (bytes * 8) / 1e9;
  return {
    frames,
    bytes,
    cpuSeconds,
    mbPerCpuSecond: bytes / 1e6 / cpuSeconds,
    gbitPerCore: gbit / cpuSeconds,
    cpuSecondsPerGbit: cpuSeconds / gbit,
  };
}

function main(): void {
  const quick = process.argv.includes("--quick");
  const caseBytes = quick ? QUICK_CASE_BYTES : CASE_BYTES;
  const key = new Uint8Array(32).fill(7);
  const results: Record<string, Figure> = {};
  console.log(
    `seal-bench: ChaCha20-Poly1305 per frame, ${caseBytes >> 20} MiB per case, CPU time of one core`,
  );
  for (const size of FRAME_SIZES) {
    const frame = dataFrame(size.bytes);
    const frames = Math.ceil(caseBytes / size.bytes);
    const sealer = new FrameSealer(key);
    results[`seal_${size.name}`] = measure(frames, () => sealer.seal(frame).length);

    // Open: a ring of sealed frames, opened by a fresh opener per lap (the window refuses a replay).
    const source = new FrameSealer(key);
    const ring = Array.from({ length: OPEN_RING }, () => source.seal(frame));
    let opener = new FrameOpener(key);
    let at = 0;
    results[`open_${size.name}`] = measure(frames, () => {
      if (at === OPEN_RING) {
        at = 0;
        opener = new FrameOpener(key);
      }
      const opened = opener.open(ring[at++]!);
      if (!opened.frame) throw new Error(`open dropped a valid frame: ${opened.drop}`);
      return opened.frame.length;
    });
  }
  for (const [name, f] of Object.entries(results)) {
    console.log(
      `${name.padEnd(11)} ${f.mbPerCpuSecond.toFixed(0).padStart(6)} MB/CPU-s  ${f.gbitPerCore.toFixed(2).padStart(6)} Gbit/s per core  ${f.cpuSecondsPerGbit.toFixed(3)} CPU-s/Gbit  (${f.frames} frames)`,
    );
  }
  const json: Record<string, number> = {};
  for (const [name, f] of Object.entries(results)) {
    json[`${name}_gbit_per_core`] = Number(f.gbitPerCore.toFixed(3));
    json[`${name}_cpu_s_per_gbit`] = Number(f.cpuSecondsPerGbit.toFixed(4));
  }
  console.log(JSON.stringify(json));
}

main();
