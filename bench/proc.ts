// What the bench reads from /proc: CPU time and peak memory of the processes under test, and which
// Chromium processes live in the phone's namespace (found by their network namespace, so another
// Chromium on the machine is never counted).
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { parseProcStatPpid, parseProcStatTicks, parseStatusKb } from "./stats.js";

let ticksPerSecond: number | undefined;

/** Clock ticks per second of /proc/<pid>/stat's times (100 on every Linux seen, but asked). */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, "utf8");
  } catch {
    return undefined;
  }
}

/** User + system CPU seconds of a process, all its threads; undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  const stat = readProc(pid, "stat");
  return stat === undefined ? undefined : parseProcStatTicks(stat) / clockTicks();
}

export interface Memory {
  /** Peak resident set (VmHWM), MiB. */
  peakRssMb: number | undefined;
  /** Current resident set (VmRSS), MiB. */
  rssMb: number | undefined;
}

export function memory(pid: number): Memory {
  const status = readProc(pid, "status") ?? "";
  const mb = (kb: number | undefined) => (kb === undefined ? undefined : kb / 1024);
  return { peakRssMb: mb(parseStatusKb(status, "VmHWM")), rssMb: mb(parseStatusKb(status, "VmRSS")) };
}

function pids(): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number);
}

/**
 * The process that does the work behind a spawned `ip netns exec ... node ...`: iproute2 execs the
 * command in place, so it is normally the pid itself; if a wrapper forked instead, its one child
 * whose command matches.
 */
export function workerPid(pid: number, comm = "node"): number {
  if (readProc(pid, "comm")?.trim() === comm) return pid;
  for (const candidate of pids()) {
    const stat = readProc(candidate, "stat");
    if (
      stat !== undefined &&
      parseProcStatPpid(stat) === pid &&
      readProc(candidate, "comm")?.trim() === comm
    ) {
      return candidate;
    }
  }
  return pid;
}

/** The inode that names a network namespace: /run/netns/<name>, as /proc/<pid>/ns/net shows it. */
function namespaceInode(name: string): number {
  return statSync(`/run/netns/${name}`).ino;
}

export type ChromiumRole = "browser" | "renderer" | "gpu" | "utility" | "zygote" | "other";

export interface ChromiumProcess {
  pid: number;
  role: ChromiumRole;
  /** For utilities, what they host (network.mojom.NetworkService, ...). */
  service: string | undefined;
}

/** Every Chromium process inside the named namespace, by its --type= flag. */
export function chromiumProcesses(namespace: string): ChromiumProcess[] {
  const wanted = `net:[${namespaceInode(namespace)}]`;
  const found: ChromiumProcess[] = [];
  for (const pid of pids()) {
    let net: string;
    try {
      net = readlinkSync(`/proc/${pid}/ns/net`);
    } catch {
      continue;
    }
    if (net !== wanted) continue;
    // Processes forked by the zygote rewrite their command line as one space-joined string, so
    // flags are looked for in the whole text rather than in NUL-separated arguments.
    const cmdline = (readProc(pid, "cmdline") ?? "").replace(/\0/g, " ");
    const comm = readProc(pid, "comm")?.trim() ?? "";
    if (!/chrom/.test(comm)) continue; // the Debian wrapper is a shell (sh); the rest are chromium, chrome_crashpad...
    const type = cmdline.match(/(?:^|\s)--type=(\S+)/)?.[1];
    const service = cmdline.match(/(?:^|\s)--utility-sub-type=(\S+)/)?.[1];
    const role: ChromiumRole =
      comm !== "chromium" && comm !== "chrome"
        ? "other"
        : type === undefined
          ? "browser"
          : type === "renderer"
            ? "renderer"
            : type === "gpu-process"
              ? "gpu"
              : type === "utility"
                ? "utility"
                : type === "zygote"
                  ? "zygote"
                  : "other";
    found.push({ pid, role, service });
  }
  return found;
}

/** CPU seconds of many processes at once (gone ones are left out). */
export function cpuSnapshot(pidList: readonly number[]): Map<number, number> {
  const snapshot = new Map<number, number>();
  for (const pid of pidList) {
    const seconds = cpuSeconds(pid);
    if (seconds !== undefined) snapshot.set(pid, seconds);
  }
  return snapshot;
}

/** CPU seconds each process spent between two snapshots (a process missing from either counts 0). */
export function cpuDelta(before: Map<number, number>, after: Map<number, number>): Map<number, number> {
  const delta = new Map<number, number>();
  for (const [pid, end] of after) {
    const start = before.get(pid);
    if (start !== undefined) delta.set(pid, end - start);
  }
  return delta;
}
