/**
 * Processes of the end-to-end harness, bounded and cleaned up: runBounded() runs a command to its
 * end (bounded in time and output), ProcessGroups starts long-running ones each in its own process
 * group and kills whole groups (SIGTERM, then SIGKILL), so nothing a test starts outlives it.
 * Nothing here knows about namespaces: callers pass the full argv (`ip netns exec ...`).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { e2eError } from "./errors.js";

/** exec's bound when the caller gives none. */
export const DEFAULT_EXEC_TIMEOUT_MS = 30_000;
/** Between SIGTERM and SIGKILL for a tracked process group. */
const KILL_GRACE_MS = 3_000;
/** After SIGKILL, how long to wait for a group's (or a namespace's) last processes to be gone. */
const GROUP_EXIT_WAIT_MS = 3_000;
/** Between two looks at whether processes are gone. */
const POLL_INTERVAL_MS = 20;
/** exec keeps at most this much of each of stdout and stderr (a runaway command cannot eat memory). */
const EXEC_OUTPUT_LIMIT_BYTES = 16 * 1024 * 1024;
/** spawn keeps the last this-many bytes of a process's output, for diagnostics. */
const SPAWN_TAIL_BYTES = 64 * 1024;

export interface ExecOptions {
  /** Kill the command's whole process group after this long; default DEFAULT_EXEC_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Written to stdin, then stdin is closed. */
  input?: string | Uint8Array;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Throw E2E_COMMAND_FAILED on a non-zero exit instead of returning it. */
  check?: boolean;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** The exit code, or 128 + the signal number if a signal ended it (as a shell reports). */
  code: number;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** "pipe" to write to the process; default "ignore". stdout and stderr are always piped. */
  stdin?: "pipe" | "ignore";
}

interface Tracked {
  tail: string;
  exited: Promise<void>;
}

/** Long-running processes, each in its own process group, with the tail of their output kept. */
export class ProcessGroups {
  private readonly tracked = new Map<ChildProcess, Tracked>();

  /** Starts argv detached (its own process group, so a kill reaches whatever it forks). */
  spawn(argv: readonly string[], opts: SpawnOptions = {}): ChildProcess {
    const [command, ...args] = argv;
    if (command === undefined) throw e2eError("E2E_BAD_ARGUMENT", "empty argv");
    const child = spawn(command, args, {
      detached: true,
      stdio: [opts.stdin ?? "ignore", "pipe", "pipe"],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    const entry: Tracked = {
      tail: "",
      exited: new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.once("error", () => resolve());
      }),
    };
    // Always drained: a process whose pipe fills up blocks.
    const keep = (chunk: Buffer) => {
      entry.tail = (entry.tail + chunk.toString("utf8")).slice(-SPAWN_TAIL_BYTES);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    child.on("error", (err) => keep(Buffer.from(`[spawn error] ${err.message}\n`)));
    this.tracked.set(child, entry);
    return child;
  }

  /** The last SPAWN_TAIL_BYTES of a process's stdout and stderr, interleaved. */
  logTail(child: ChildProcess): string {
    return this.tracked.get(child)?.tail ?? "";
  }

  /** SIGTERM to the process's group, SIGKILL after graceMs; resolves once the whole group is gone. */
  async kill(child: ChildProcess, graceMs = KILL_GRACE_MS): Promise<void> {
    const entry = this.tracked.get(child);
    if (entry === undefined || child.pid === undefined) return;
    const pgid = child.pid;
    if (!hasExited(child)) {
      signalGroup(pgid, "SIGTERM");
      if (!(await settlesWithin(entry.exited, graceMs))) {
        signalGroup(pgid, "SIGKILL");
        await settlesWithin(entry.exited, GROUP_EXIT_WAIT_MS);
      }
    }
    // Whatever the leader left behind in its group dies with it, and is waited for.
    if (groupExists(pgid)) {
      signalGroup(pgid, "SIGKILL");
      await waitUntil(() => !groupExists(pgid), GROUP_EXIT_WAIT_MS);
    }
  }

  /** kill() for every process ever spawned here. */
  async killAll(): Promise<void> {
    await Promise.all([...this.tracked.keys()].map((child) => this.kill(child)));
  }

  /** The synchronous last resort at process exit: SIGKILL every group still running. */
  killAllSync(): void {
    for (const child of this.tracked.keys()) {
      if (child.pid !== undefined && !hasExited(child)) signalGroup(child.pid, "SIGKILL");
    }
  }
}

/** True if pid is a running process; a zombie (dead, not yet reaped) counts as dead. */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  const state = procStat(pid)?.state;
  return state !== undefined && state !== "Z" && state !== "X";
}

/**
 * Signals a process group (every child is spawned detached, so its pid is its group id). A group id
 * is never reused while any member lives, so this cannot hit an unrelated process.
 */
export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // The whole group is gone.
  }
}

/**
 * True while a living process is in the group. Zombies do not count: an orphan's zombie waits for
 * init to reap it, and some inits (this project's VMs') never do, so kill(-pgid, 0) would say
 * "alive" forever.
 */
function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  for (const entry of safeReaddir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (stat !== undefined && stat.pgrp === pgid && stat.state !== "Z" && stat.state !== "X") return true;
  }
  return false;
}

/** State letter and process group of a process, from /proc/<pid>/stat; undefined if it is gone. */
function procStat(pid: number): { state: string; pgrp: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) S ppid pgrp ...": comm may hold spaces and parens, so parse after the last ")".
    const [state = "", , pgrp = ""] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state, pgrp: Number(pgrp) };
  } catch {
    return undefined;
  }
}

/** Polls a condition until it holds or the time is up; says which. */
export async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await delay(POLL_INTERVAL_MS);
  }
  return true;
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Runs argv in its own process group; on timeout the whole group is killed and this rejects. */
export function runBounded(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const [command, ...args] = argv;
  if (command === undefined) return Promise.reject(e2eError("E2E_BAD_ARGUMENT", "empty argv"));
  const timeoutMs = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      detached: true,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    const stdout = new BoundedText();
    const stderr = new BoundedText();
    child.stdout?.on("data", (chunk: Buffer) => stdout.add(chunk));
    child.stderr?.on("data", (chunk: Buffer) => stderr.add(chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) signalGroup(child.pid, "SIGKILL");
    }, timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(e2eError("E2E_COMMAND_FAILED", `${argv.join(" ")}: ${err.message}`, err));
    });
    child.once("close", (exitCode, signal) => {
      clearTimeout(timer);
      const code = exitCode ?? 128 + (signal === null ? 0 : (osConstants.signals[signal] ?? 0));
      const result = { stdout: stdout.text(), stderr: stderr.text(), code };
      if (timedOut) {
        reject(
          e2eError("E2E_EXEC_TIMEOUT", `${argv.join(" ")} ran past ${timeoutMs} ms: ${result.stderr.trim()}`),
        );
      } else if (opts.check === true && code !== 0) {
        reject(e2eError("E2E_COMMAND_FAILED", `${argv.join(" ")} exited ${code}: ${result.stderr.trim()}`));
      } else {
        resolve(result);
      }
    });
    if (opts.input !== undefined && child.stdin !== null) {
      child.stdin.on("error", () => {}); // The command may exit without reading its input.
      child.stdin.end(opts.input);
    }
  });
}

class BoundedText {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  add(chunk: Buffer): void {
    if (this.size >= EXEC_OUTPUT_LIMIT_BYTES) return;
    const kept = chunk.subarray(0, EXEC_OUTPUT_LIMIT_BYTES - this.size);
    this.chunks.push(kept);
    this.size += kept.length;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
}

/** The entries of a directory; none if it cannot be read. */
export function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Waits for a promise at most ms; says whether it settled. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
