// The only module that writes to the DOM. It draws what the relay reports, at most once a frame.
import type { LegStats } from "./leg.js";
import type { RelayStats } from "./relay.js";

function text(id: string, value: string): void {
  const element = document.getElementById(id);
  if (element && element.textContent !== value) element.textContent = value;
}

export function formatBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

function legText(leg: LegStats): string {
  if (leg.state === "backoff") {
    const seconds = Math.max(0, Math.ceil(((leg.retryAt ?? Date.now()) - Date.now()) / 1000));
    return `reconnecting in ${seconds} s (${leg.lastClose})`;
  }
  return leg.state;
}

export class View {
  private pending = false;

  constructor(
    private readonly read: () => RelayStats,
    private readonly relaying: () => boolean,
  ) {}

  message(value: string): void {
    text("message", value);
  }

  /** Schedules a redraw; many changes within a frame cost one draw. */
  update(): void {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  draw(): void {
    const stats = this.read();
    text("leg-laptop", legText(stats.laptop));
    text("leg-exit", legText(stats.exit));
    text("bytes-up", formatBytes(stats.bytesUp));
    text("bytes-down", formatBytes(stats.bytesDown));
    const relaying = this.relaying();
    document.body.dataset.relaying = String(relaying);
    text("message", relaying ? "Relaying: your laptop is online through this phone." : "Connecting…");
  }
}
