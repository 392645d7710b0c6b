// What the screen says, worked out from the relay's stats: every string the view writes, so the
// wording is tested here and the view only puts text in place. States are said in words (and a
// symbol), never by colour alone: colour only repeats what the text says.
import type { LegStats } from "../leg.js";
import type { RelayStats } from "../relay.js";
import {
  formatBytes,
  formatDuration,
  formatPercent,
  formatPps,
  formatRate,
  formatRtt,
  secondsUntil,
  UNKNOWN,
} from "./format.js";
import type { Rates } from "./rates.js";
import { type CapLevel, capLevel, total, type UsageTotals } from "./usage.js";

/** ok: relaying; working: on its way; problem: needs the user; idle: nothing to do here. */
export type Tone = "ok" | "working" | "problem" | "idle";

/** What this tab does: no pairing yet, another tab relays, it relays itself, or the user paused it. */
export type TabRole = "unpaired" | "other-tab" | "relay" | "paused";

/** The one control on the first screen: pause while relaying (or trying to), resume while paused. */
export interface ControlView {
  state: "hidden" | "relaying" | "paused";
  label: string;
  /** Said under the control: what pausing does, or how to resume. */
  hint: string;
}

export interface PresentInput {
  role: TabRole;
  stats: RelayStats | undefined;
  rates: Rates;
  usage: UsageTotals;
  capBytes: number | undefined;
  /** The last WELCOME started a new session where one had been: the old one had expired. */
  sessionRenewed: boolean;
  /** A link for a new laptop waits for the user's yes. */
  asking?: boolean;
  now: number;
}

export interface LegView {
  state: string;
  rtt: string;
  encoding: string;
  queued: string;
  reconnects: string;
  lastClose: string;
}

export interface Presentation {
  tone: Tone;
  /** For the live region: changes only when the state does (no countdown), so readers are not flooded. */
  headline: string;
  /** The moving part: next try in N s, and why the leg went down. */
  detail: string;
  legs: { laptop: LegView; exit: LegView };
  endToEndRtt: string;
  session: string;
  address: string;
  uptime: string;
  rateUp: string;
  rateDown: string;
  packetsUp: string;
  packetsDown: string;
  /** DATA bytes relayed each way since relaying last started (exact counts beside the text). */
  bytesUp: string;
  bytesDown: string;
  bytesUpCount: number;
  bytesDownCount: number;
  control: ControlView;
  drops: { reason: string; label: string; count: number }[];
  today: string;
  thisMonth: string;
  todayBytes: number;
  monthBytes: number;
  cap: { level: CapLevel; fraction: number | undefined; text: string; warning: string };
}

const DROP_LABELS: Record<string, string> = {
  laptop_leg_down: "to the laptop while its leg was down",
  exit_leg_down: "to the exit while its leg was down",
  laptop_leg_backlog: "laptop leg queue full",
  exit_leg_backlog: "exit leg queue full",
};

const IDLE_LEG: LegView = {
  state: "○ not started",
  rtt: UNKNOWN,
  encoding: UNKNOWN,
  queued: UNKNOWN,
  reconnects: UNKNOWN,
  lastClose: UNKNOWN,
};

const LEG_NAMES = { laptop: "the laptop", exit: "the exit" } as const;

export function legState(leg: LegStats, now: number, waitingFor?: string): string {
  switch (leg.state) {
    case "open":
      return "● open";
    case "connecting":
      return "◌ connecting…";
    case "backoff":
      return `↻ reconnecting in ${secondsUntil(leg.retryAt ?? now, now)} s`;
    default:
      return waitingFor ? `○ waiting for ${waitingFor}` : "○ not started";
  }
}

function legView(leg: LegStats, now: number, waitingFor?: string): LegView {
  return {
    state: legState(leg, now, waitingFor),
    rtt: leg.state === "open" ? formatRtt(leg.rttMs) : UNKNOWN,
    encoding: leg.encoding,
    queued: formatBytes(leg.bufferedAmount),
    reconnects: String(Math.max(0, leg.opens - 1)),
    lastClose: leg.lastClose || UNKNOWN,
  };
}

function headline(input: PresentInput): { tone: Tone; headline: string; detail: string } {
  const { stats, now } = input;
  if (input.asking)
    return {
      tone: "working",
      headline: "A pairing link for a new laptop: answer below before this phone relays for it.",
      detail: "",
    };
  if (input.role === "unpaired")
    return {
      tone: "idle",
      headline:
        "Not paired yet: open the link tether prints on your laptop (or scan its QR code), or paste it below.",
      detail: "",
    };
  if (input.role === "paused")
    return {
      tone: "idle",
      headline:
        "Paused: this phone relays nothing and uses no data. Your laptop is offline until you resume.",
      detail: "",
    };
  if (input.role === "other-tab")
    return {
      tone: "idle",
      headline:
        "Tether is already relaying in another tab or window of this app. This one stays idle and takes over if that one closes.",
      detail: "",
    };
  if (!stats) return { tone: "working", headline: "Starting…", detail: "" };
  const { laptop, exit } = stats;
  if (stats.session === "refused")
    return {
      tone: "problem",
      headline: `The exit refused the laptop: ${stats.refusal || "no reason given"}.`,
      detail: "See the laptop's terminal.",
    };
  if (laptop.state === "open" && exit.state === "open") {
    if (stats.session === "resumed")
      return {
        tone: "ok",
        headline: "Connected, session resumed: same address, connections kept.",
        detail: "",
      };
    if (stats.session === "established")
      return {
        tone: "ok",
        headline: input.sessionRenewed
          ? "Connected with a new session: the old one had expired (new address)."
          : "Connected: your laptop is online through this phone.",
        detail: "",
      };
    return {
      tone: "working",
      headline: "Both legs are up; the laptop and the exit are shaking hands…",
      detail: "",
    };
  }
  const down = laptop.state !== "open" ? laptop : exit;
  const name = LEG_NAMES[down.name];
  if (down.state === "backoff")
    return {
      tone: "working",
      headline: `Reconnecting to ${name}…`,
      detail: `Next try in ${secondsUntil(down.retryAt ?? now, now)} s${down.lastClose ? ` (${down.lastClose})` : ""}.`,
    };
  return { tone: "working", headline: `Connecting to ${name}…`, detail: "" };
}

function sessionText(stats: RelayStats | undefined): string {
  if (!stats) return UNKNOWN;
  switch (stats.session) {
    case "none":
      return "none yet";
    case "handshaking":
      return "handshaking";
    case "established":
      return "established";
    case "resumed":
      return "resumed";
    case "refused":
      return `refused (${stats.refusal || "no reason"})`;
    case "ended":
      return "ended by the exit";
    default:
      return String(stats.session);
  }
}

function capView(used: number, cap: number | undefined): Presentation["cap"] {
  const level = capLevel(used, cap);
  if (!cap) return { level, fraction: undefined, text: "No monthly cap set.", warning: "" };
  const fraction = used / cap;
  const text = `${formatBytes(used)} of ${formatBytes(cap)} (${formatPercent(fraction)})`;
  // Worded per level, not per byte: it is an alert, read out each time it changes.
  const warning =
    level === "reached"
      ? "⚠ This month's data cap is used up."
      : level === "near"
        ? "⚠ 80 % of this month's data cap is used."
        : "";
  return { level, fraction, text, warning };
}

function controlView(role: TabRole): ControlView {
  if (role === "paused")
    return {
      state: "paused",
      label: "Resume relaying",
      hint: "Resume within 2 minutes (the exit's usual grace period) and the laptop gets the same session and address back: its connections carry on.",
    };
  if (role === "relay")
    return {
      state: "relaying",
      label: "Pause relaying",
      hint: "Pausing closes both connections and keeps the pairing: no data is used until you resume.",
    };
  return { state: "hidden", label: "", hint: "" };
}

export function present(input: PresentInput): Presentation {
  const { stats, rates, usage, now } = input;
  const head = headline(input);
  const live = stats?.session === "established" || stats?.session === "resumed";
  const todayBytes = total(usage.today);
  const monthBytes = total(usage.thisMonth);
  return {
    ...head,
    legs: stats
      ? {
          laptop: legView(stats.laptop, now),
          exit: legView(stats.exit, now, stats.laptop.state === "open" ? undefined : "the laptop leg"),
        }
      : { laptop: IDLE_LEG, exit: IDLE_LEG },
    endToEndRtt: live ? formatRtt(stats?.endToEndRttMs) : UNKNOWN,
    session: sessionText(stats),
    address: stats?.address ?? UNKNOWN,
    uptime:
      live && stats?.sessionStartedAt !== undefined ? formatDuration(now - stats.sessionStartedAt) : UNKNOWN,
    rateUp: formatRate(rates.up),
    rateDown: formatRate(rates.down),
    packetsUp: formatPps(rates.upPackets),
    packetsDown: formatPps(rates.downPackets),
    bytesUp: formatBytes(stats?.bytesUp ?? 0),
    bytesDown: formatBytes(stats?.bytesDown ?? 0),
    bytesUpCount: stats?.bytesUp ?? 0,
    bytesDownCount: stats?.bytesDown ?? 0,
    control: controlView(input.role),
    drops: Object.entries(stats?.drops ?? {}).map(([reason, count]) => ({
      reason,
      label: DROP_LABELS[reason] ?? reason.replaceAll("_", " "),
      count,
    })),
    today: formatBytes(todayBytes),
    thisMonth: formatBytes(monthBytes),
    todayBytes,
    monthBytes,
    cap: capView(monthBytes, input.capBytes),
  };
}

/** The question a pairing link for a new laptop asks, in one or two steps (laptop-trust.ts). */
export interface ConfirmView {
  title: string;
  body: string;
  yes: string;
  no: string;
}

export function confirmView(laptopUrl: string, exitUrl: string, step: "new" | "elsewhere"): ConfirmView {
  const laptop = hostOf(laptopUrl);
  if (step === "elsewhere")
    return {
      title: "This laptop is not beside you",
      body: `${laptop} is not an address on this phone's hotspot or USB link (a private or link-local address, or a .local name): a laptop next to you is never there. Relay for it anyway?`,
      yes: "Relay anyway",
      no: "Cancel",
    };
  return {
    title: "Relay for a new laptop?",
    body: `This link asks this phone to carry the internet traffic of the laptop at ${laptop} over its own data plan, through ${hostOf(exitUrl)}. Say yes only for your own laptop or one you trust.`,
    yes: "Relay for this laptop",
    no: "Cancel",
  };
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
