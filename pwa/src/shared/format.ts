// How numbers read on the phone's screen: short, unit always shown, same width while they change.
// Pure: the view and the tests both use these.

/** Shown where a value is not known yet (no RTT measured, no session). */
export const UNKNOWN = "—";

/** Bytes in decimal units (what carriers bill in): 0 B, 999 B, 1.2 kB, 34.5 MB, 1.02 GB. */
export function formatBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = Math.max(0, bytes);
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  const digits = unit === 0 ? 0 : value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

/** A rate in bits per second, as links are rated: 0 bit/s, 850 bit/s, 12.3 kbit/s, 4.56 Mbit/s. */
export function formatRate(bitsPerSecond: number): string {
  const value = Math.max(0, bitsPerSecond);
  if (value < 1000) return `${value.toFixed(0)} bit/s`;
  const units = ["kbit/s", "Mbit/s", "Gbit/s"];
  let scaled = value / 1000;
  let unit = 0;
  while (scaled >= 1000 && unit < units.length - 1) {
    scaled /= 1000;
    unit++;
  }
  return `${scaled.toFixed(scaled >= 100 ? 0 : scaled >= 10 ? 1 : 2)} ${units[unit]}`;
}

/** Packets per second, whole numbers. */
export function formatPps(packetsPerSecond: number): string {
  return `${Math.round(Math.max(0, packetsPerSecond))} pkt/s`;
}

/** A round trip in ms; below 10 ms with one decimal, which a LAN leg often is. */
export function formatRtt(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return UNKNOWN;
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

/** A duration for an uptime: 42 s, 5 min 03 s, 2 h 07 min, 3 d 4 h. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${String(seconds % 60).padStart(2, "0")} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ${String(minutes % 60).padStart(2, "0")} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** Whole seconds until `at`, never negative: for "next try in N s". */
export function secondsUntil(at: number, now: number): number {
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/** A percentage of a cap, whole: 0 %, 80 %, 112 %. */
export function formatPercent(fraction: number): string {
  return `${Math.round(Math.max(0, fraction) * 100)} %`;
}

/** Parses a cap typed by a person: "5", "5 GB", "500MB", "1.5 gb" (GB when no unit). Undefined if empty or 0. */
export function parseCap(text: string): number | undefined {
  const match = text
    .trim()
    .toLowerCase()
    .match(/^(\d+(?:[.,]\d+)?)\s*(b|kb|mb|gb|tb)?$/);
  if (!match) return undefined;
  const value = Number(match[1]!.replace(",", "."));
  const unit = match[2] ?? "gb";
  const factor = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12 }[unit as "b" | "kb" | "mb" | "gb" | "tb"];
  const bytes = Math.round(value * factor);
  return bytes > 0 ? bytes : undefined;
}
