// The self-test's findings and the short report a user copies and shares: what this phone, in
// this browser, does as a relay. Pure: page/self-test.ts measures, this words it.
import type { SelfTestDone } from "../../../protocol/self-test.js";
import { formatBytes, formatRtt } from "./format.js";
import { describeHidden, type HiddenRecord } from "./hidden-watch.js";

/** What the self-test asks the laptop for: about 3 s, at most 10 MB each way, 16 KiB messages. */
export const SELF_TEST_REQUEST = { durationMs: 3_000, maxBytes: 10_000_000, payloadBytes: 16_384 } as const;
/** Leg PINGs sent for the round trips, 100 ms apart: 10 of each is a median worth quoting. */
export const RTT_PINGS = 10;

/** Said before the test runs: what it costs, bounded. */
export function selfTestCost(): string {
  const each = formatBytes(SELF_TEST_REQUEST.maxBytes);
  const all = formatBytes(2 * SELF_TEST_REQUEST.maxBytes);
  return `The self-test takes about ${Math.round(SELF_TEST_REQUEST.durationMs / 1000) + 2} seconds and uses at most ${all} of this phone's data (${each} each way through the exit: test traffic the laptop sends inside its session, which the exit sends back). Relaying carries on meanwhile.`;
}

export interface RelayRate {
  messagesUp: number;
  messagesDown: number;
  bytesUp: number;
  bytesDown: number;
  /** From the first ECHO to the last ECHO_REPLY the phone relayed, ms. */
  windowMs: number;
  /** The laptop's own counts, when its report arrived. */
  laptop: SelfTestDone | undefined;
  /** Test messages the phone dropped because the next leg was backed up (its 512 KiB bound). */
  droppedUp: number;
  droppedDown: number;
}

export interface SelfTestFindings {
  at: number;
  userAgent: string;
  /** undefined: not measured, with `rateNote` saying why. */
  rate: RelayRate | undefined;
  rateNote: string;
  rtt: { laptop: number[]; exit: number[]; endToEnd: number | undefined };
  binary: { laptop: string; exit: string };
  wakeLock: string;
  notifications: string;
  localNetwork: string;
  hidden: HiddenRecord | undefined;
}

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The rate's figures: messages per second both ways together, Mbit/s each way. */
export function rateFigures(rate: RelayRate): {
  messagesPerSecond: number;
  upMbps: number;
  downMbps: number;
} {
  const seconds = Math.max(rate.windowMs, 1) / 1000;
  return {
    messagesPerSecond: (rate.messagesUp + rate.messagesDown) / seconds,
    upMbps: (rate.bytesUp * 8) / seconds / 1e6,
    downMbps: (rate.bytesDown * 8) / seconds / 1e6,
  };
}

function dropped(rate: RelayRate): string {
  if (rate.droppedUp === 0 && rate.droppedDown === 0) return "";
  return `; the phone dropped ${rate.droppedUp} up and ${rate.droppedDown} down, its legs backed up`;
}

function rttLine(name: string, samples: readonly number[]): string {
  const m = median(samples);
  return m === undefined ? `${name} not measured` : `${name} ${formatRtt(m)} (median of ${samples.length})`;
}

/** The report: a few lines of plain text, figures with units, nothing secret (no address, no key). */
export function selfTestReport(f: SelfTestFindings): string {
  const lines = [`Tether self-test, ${new Date(f.at).toISOString().slice(0, 16).replace("T", " ")} UTC`];
  lines.push(`Browser: ${f.userAgent}`);
  if (f.rate) {
    const r = rateFigures(f.rate);
    const laptop = f.rate.laptop
      ? `; the laptop sent ${f.rate.laptop.echoesSent} echoes and got ${f.rate.laptop.echoesReceived} back`
      : "";
    lines.push(
      `Relay rate: ${Math.round(r.messagesPerSecond)} messages/s, ${r.upMbps.toFixed(1)} Mbit/s up and ${r.downMbps.toFixed(1)} Mbit/s down at once ` +
        `(${f.rate.messagesUp} + ${f.rate.messagesDown} messages of ${formatBytes(SELF_TEST_REQUEST.payloadBytes)} in ${(f.rate.windowMs / 1000).toFixed(2)} s${laptop}${dropped(f.rate)})`,
    );
  } else {
    lines.push(`Relay rate: not measured (${f.rateNote})`);
  }
  lines.push(
    `Round trips: ${rttLine("laptop leg", f.rtt.laptop)}, ${rttLine("exit leg", f.rtt.exit)}, laptop to exit ${formatRtt(f.rtt.endToEnd)}`,
  );
  lines.push(`Binary frames: laptop leg ${f.binary.laptop}, exit leg ${f.binary.exit}`);
  lines.push(`Screen wake lock: ${f.wakeLock}`);
  lines.push(`Notifications: ${f.notifications}`);
  lines.push(`Local network permission: ${f.localNetwork}`);
  lines.push(`Last time hidden: ${describeHidden(f.hidden)}`);
  if (f.rate) lines.push(`Data the test used: ${formatBytes(f.rate.bytesUp + f.rate.bytesDown)}`);
  return lines.join("\n");
}
