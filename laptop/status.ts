// What the terminal shows while the tether runs: one live line on a TTY, redrawn every second;
// plain log lines on state changes when stdout is not a terminal (a pipe, a log file, CI).
import { printable } from "./sanitize.js";
import type { LaptopTunnel, TunnelState } from "./tunnel.js";

/** How often the live line is redrawn, ms. */
const REDRAW_MS = 1_000;

export function formatBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function formatRate(bitsPerSecond: number): string {
  if (bitsPerSecond >= 1e9) return `${(bitsPerSecond / 1e9).toFixed(2)} Gbit/s`;
  if (bitsPerSecond >= 1e6) return `${(bitsPerSecond / 1e6).toFixed(1)} Mbit/s`;
  return `${(bitsPerSecond / 1e3).toFixed(0)} kbit/s`;
}

const LABELS: Record<TunnelState, string> = {
  waiting: "waiting for the phone",
  handshaking: "connecting to the exit",
  established: "connected",
};

export class StatusLine {
  private timer: NodeJS.Timeout | undefined;
  private last = { at: Date.now(), up: 0, down: 0 };
  private detail = "";

  constructor(
    private readonly tunnel: LaptopTunnel,
    private readonly out: NodeJS.WriteStream,
  ) {}

  get live(): boolean {
    return Boolean(this.out.isTTY);
  }

  start(): void {
    if (this.live) this.timer = setInterval(() => this.draw(), REDRAW_MS);
  }

  /** A state change: redrawn on a TTY, logged as a line otherwise. */
  state(state: TunnelState, detail?: string): void {
    // Details carry the exit's and the relay's close reasons: printed as text only.
    this.detail = printable(detail ?? "");
    if (this.live) this.draw();
    else this.out.write(`tether: ${LABELS[state]}${this.detail ? ` (${this.detail})` : ""}\n`);
  }

  /** Prints a message above the live line. */
  print(message: string): void {
    if (this.live) this.out.write("\r\x1b[K");
    this.out.write(`${message}\n`);
    if (this.live) this.draw();
  }

  private draw(): void {
    const { counters, state, welcome } = this.tunnel;
    const now = Date.now();
    const seconds = Math.max((now - this.last.at) / 1000, 0.001);
    const upRate = ((counters.bytesUp - this.last.up) * 8) / seconds;
    const downRate = ((counters.bytesDown - this.last.down) * 8) / seconds;
    this.last = { at: now, up: counters.bytesUp, down: counters.bytesDown };
    const parts = [
      `● ${LABELS[state]}`,
      state === "established" && welcome ? welcome.address : this.detail,
      `↑ ${formatRate(upRate)} ↓ ${formatRate(downRate)}`,
      this.tunnel.rttMs === undefined ? "" : `rtt ${this.tunnel.rttMs.toFixed(0)} ms`,
      `used ${formatBytes(counters.bytesUp + counters.bytesDown)}`,
    ].filter(Boolean);
    this.out.write(`\r\x1b[K${parts.join("  ")}`);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.live) this.out.write("\n");
  }
}
