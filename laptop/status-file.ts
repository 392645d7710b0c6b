// `tether status`: the running tether writes what its status line shows into status.json in its
// config folder every second; `tether status` (another process, maybe another shell) reads it and
// prints it once, as text or JSON. A file rather than a socket: nothing listens, nothing to secure,
// and a stale file (the tether was killed) is told apart by its age and pid.
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileSafely } from "./safe-write.js";
import { printable } from "./sanitize.js";
import { formatBytes, formatRate } from "./status.js";
import type { LaptopTunnel, TunnelState } from "./tunnel.js";

export const STATUS_FILE = "status.json";
/** How often the running tether rewrites the file, ms. */
export const STATUS_WRITE_MS = 1_000;
/** A file not rewritten for this long belongs to a tether that is gone, ms. */
export const STATUS_STALE_MS = 5_000;

export interface StatusSnapshot {
  version: 1;
  pid: number;
  startedAt: number;
  updatedAt: number;
  state: TunnelState;
  /** The state in words, as the live line says it. */
  label: string;
  detail: string;
  /** The laptop's address in the tunnel, once connected. */
  address: string | undefined;
  exit: string;
  /** Where the phone connects: host:port for each listen address. */
  listening: string[];
  upBitsPerSecond: number;
  downBitsPerSecond: number;
  /** laptop <-> exit round trip, ms. */
  rttMs: number | undefined;
  bytesUp: number;
  bytesDown: number;
  packetsUp: number;
  packetsDown: number;
  drops: Record<string, number>;
  /** Segments marked Congestion Experienced instead of dropped (ECN-capable flows), since start. */
  ceMarked: number;
  /** Times a phone connected. */
  relays: number;
  /**
   * Protocol v2's refusals of what a relay made up: frames the relays' legs dropped unopened
   * (forged, replayed, too old, clear where sealed), by reason, since start; relays refused while one
   * worked (RELAY_BUSY); RESPONSEs or CHALLENGEs that did not hold up; clear CLOSEs not believed.
   */
  legDrops: Record<string, number>;
  /** What the relays were refused (a PING past the reply budget, a leg cut for not reading), by reason, since start. */
  refusals: Record<string, number>;
  relaysBusy: number;
  handshakesFailed: number;
  closesIgnored: number;
}

const LABELS: Record<string, string> = {
  waiting: "waiting for the phone",
  handshaking: "connecting to the exit",
  established: "connected",
};

export function stateLabel(state: string): string {
  return LABELS[state] ?? state;
}

/** Rewrites status.json every second while the tether runs; removes it when stopped. */
export class StatusFile {
  private readonly path: string;
  private readonly startedAt = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private last = { at: Date.now(), up: 0, down: 0 };
  private detail = "";
  private writing = false;

  constructor(
    configDir: string,
    private readonly tunnel: LaptopTunnel,
    private readonly about: { exit: string; listening: string[] },
  ) {
    this.path = join(configDir, STATUS_FILE);
  }

  start(): void {
    this.timer = setInterval(() => void this.write(), STATUS_WRITE_MS);
    this.timer.unref();
    void this.write();
  }

  state(_state: TunnelState, detail?: string): void {
    this.detail = detail ?? "";
    void this.write();
  }

  snapshot(now = Date.now()): StatusSnapshot {
    const { counters, state, welcome } = this.tunnel;
    const seconds = Math.max((now - this.last.at) / 1000, 0.001);
    const up = ((counters.bytesUp - this.last.up) * 8) / seconds;
    const down = ((counters.bytesDown - this.last.down) * 8) / seconds;
    this.last = { at: now, up: counters.bytesUp, down: counters.bytesDown };
    return {
      version: 1,
      pid: process.pid,
      startedAt: this.startedAt,
      updatedAt: now,
      state,
      label: stateLabel(state),
      detail: this.detail,
      address: state === "established" ? welcome?.address : undefined,
      exit: this.about.exit,
      listening: this.about.listening,
      upBitsPerSecond: Math.round(up),
      downBitsPerSecond: Math.round(down),
      rttMs: this.tunnel.rttMs,
      bytesUp: counters.bytesUp,
      bytesDown: counters.bytesDown,
      packetsUp: counters.packetsUp,
      packetsDown: counters.packetsDown,
      drops: { ...counters.drops },
      ceMarked: counters.ceMarked,
      relays: counters.relays,
      legDrops: { ...counters.legDrops },
      refusals: { ...counters.refusals },
      relaysBusy: counters.relaysBusy,
      handshakesFailed: counters.handshakesFailed,
      closesIgnored: counters.closesIgnored,
    };
  }

  /** Written aside and renamed over, so a reader never sees half a file. */
  private async write(): Promise<void> {
    if (this.writing || !this.timer) return;
    this.writing = true;
    try {
      // As root in a folder the user owns: never through a planted link (laptop/safe-write.ts).
      await writeFileSafely(this.path, `${JSON.stringify(this.snapshot())}\n`, 0o644);
    } catch {
      // A full disk or a removed folder must not stop the tether; `tether status` will say stale.
    } finally {
      this.writing = false;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    while (this.writing) await new Promise((resolve) => setTimeout(resolve, 10));
    await rm(this.path, { force: true });
  }
}

export type StatusReading =
  | { running: true; status: StatusSnapshot }
  | { running: false; why: string; status?: StatusSnapshot };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, it is just not ours to signal.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** What the tether whose config folder is `configDir` is doing, if it runs. */
export async function readStatus(configDir: string, now = Date.now()): Promise<StatusReading> {
  const path = join(configDir, STATUS_FILE);
  let status: StatusSnapshot;
  try {
    status = JSON.parse(await readFile(path, "utf8")) as StatusSnapshot;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT")
      return { running: false, why: `no tether is running with config folder ${configDir}` };
    if (code === "EACCES")
      return {
        running: false,
        why: `cannot read ${path}: run \`tether status\` as the user that runs tether (sudo)`,
      };
    return { running: false, why: `cannot read ${path}: ${(error as Error).message}` };
  }
  if (!alive(status.pid))
    return { running: false, why: `the tether that wrote ${path} (pid ${status.pid}) is gone`, status };
  if (now - status.updatedAt > STATUS_STALE_MS)
    return { running: false, why: `the tether with pid ${status.pid} stopped updating its status`, status };
  return { running: true, status };
}

/** `tether status` as text: the status line's essentials, one per line. */
export function formatStatus(reading: StatusReading, now = Date.now()): string {
  if (!reading.running) return `tether: not running (${reading.why})\n`;
  const s = reading.status;
  const rows: [string, string][] = [
    // The detail came from a peer (and the file from disk): printed as text only.
    [
      "state",
      `${s.label}${s.detail && s.state !== "established" ? ` (${printable(String(s.detail))})` : ""}`,
    ],
    ["address", s.address ?? "none yet"],
    ["up", formatRate(s.upBitsPerSecond)],
    ["down", formatRate(s.downBitsPerSecond)],
    ["rtt", s.rttMs === undefined ? "not measured yet" : `${Math.round(s.rttMs)} ms laptop <-> exit`],
    [
      "used",
      `${formatBytes(s.bytesUp + s.bytesDown)} (${formatBytes(s.bytesUp)} up, ${formatBytes(s.bytesDown)} down) since start`,
    ],
    ["exit", s.exit],
    ["phone", s.listening.join(", ")],
    ["running", `${Math.round((now - s.startedAt) / 1000)} s, pid ${s.pid}`],
  ];
  return `tether: ${s.label}\n${rows.map(([k, v]) => `  ${k.padEnd(8)} ${v}`).join("\n")}\n`;
}

/** `tether status [--json]`: prints once; exit code 0 when running, 3 when not (as `systemctl status`). */
export async function statusCommand(
  configDir: string,
  json: boolean,
  out: NodeJS.WritableStream,
): Promise<number> {
  const reading = await readStatus(configDir);
  out.write(json ? `${JSON.stringify(reading, null, 2)}\n` : formatStatus(reading));
  return reading.running ? 0 : 3;
}
