// The relay: two legs, one to the laptop and one to the exit, and every message from one sent on
// the other as it came. An ArrayBuffer is forwarded untouched: no copy, no parsing of DATA; only
// the header's type and count are peeked at, for the stats. It knows nothing of the page: the
// view reads `stats` when it draws and listens to `onChange` for state changes.
//
// The laptop leg is dialed first and kept up on its own. The exit leg is dialed whenever the
// laptop leg is open; each exit-leg connection starts with a fresh CHALLENGE, which the laptop
// answers with its resume token, so the exit resumes the same session (same address, flows kept).
// When the laptop leg drops, the exit leg is closed too, and both come back in that order.
import { decodeFrame } from "../../protocol/codec.js";
import { ENCODING_PARAM, type Encoding, fromMessage, peekHeader } from "../../protocol/encoding.js";
import { ErrorCodes } from "../../protocol/errors.js";
import { FrameType, Hop } from "../../protocol/frames.js";
import { decodeSelfTestDone, type SelfTestDone, SelfTestType } from "../../protocol/self-test.js";
import { fromText } from "../../protocol/text.js";
import { Leg, type LegStats } from "./leg.js";

/**
 * Most bytes a leg's socket may hold unsent before DATA for it is dropped: past this, more queue
 * only adds delay for every flow, and the inner TCP recovers from a drop in one round trip.
 */
export const MAX_LEG_BUFFER_BYTES = 512 * 1024;

export type RelayDropReason = "laptop_leg_down" | "exit_leg_down" | "laptop_leg_backlog" | "exit_leg_backlog";

/** The laptop's session at the exit, as seen from the frames passing through. */
export type SessionState = "none" | "handshaking" | "established" | "resumed" | "refused" | "ended";

export interface RelayStats {
  laptop: LegStats;
  exit: LegStats;
  /** laptop <-> exit round trip: the laptop's end-to-end PINGs timed as they pass, plus the laptop leg's RTT. */
  endToEndRttMs: number | undefined;
  /** Bytes and packets relayed laptop -> exit (up) and exit -> laptop (down); bytes as sent on the wire. */
  bytesUp: number;
  bytesDown: number;
  packetsUp: number;
  packetsDown: number;
  drops: Record<RelayDropReason, number>;
  session: SessionState;
  /** The laptop's address in the tunnel, once welcomed. */
  address: string | undefined;
  /** When the current session began (Date.now() ms); kept across resumes. */
  sessionStartedAt: number | undefined;
  /** Why the exit last refused, when it did. */
  refusal: string | undefined;
}

export interface RelayOptions {
  laptopUrl: string;
  secret: string;
  exitUrl: string;
  encoding: Encoding;
}

/** The self-test's traffic as it passed: ECHO up (laptop -> exit), ECHO_REPLY down. */
export interface SelfTestCounts {
  messagesUp: number;
  bytesUp: number;
  messagesDown: number;
  bytesDown: number;
  /** Date.now() of the first ECHO and the last ECHO_REPLY seen. */
  firstAt: number | undefined;
  lastAt: number | undefined;
  /** Test messages not relayed because the next leg was down or backed up, each way. */
  droppedUp: number;
  droppedDown: number;
}

export function zeroSelfTestCounts(): SelfTestCounts {
  return {
    messagesUp: 0,
    bytesUp: 0,
    messagesDown: 0,
    bytesDown: 0,
    firstAt: undefined,
    lastAt: undefined,
    droppedUp: 0,
    droppedDown: 0,
  };
}

/** PINGs of the laptop remembered while their PONG is awaited (bounded: they are answered or lost). */
const MAX_PENDING_PINGS = 16;
/**
 * Header byte 1, bit 0x80: the frame is sealed end to end (protocol v2, noise's HeaderFlag.SEALED):
 * the relay sees its type and nothing of its payload.
 */
const SEALED_FLAG = 0x80;
/** Characters of base64 that hold a frame's first 6 bytes (its type and flags among them). */
const TEXT_HEADER_CHARS = 8;
/** Handshake frame of v2, in the clear: the exit's RESPONSE to the laptop's first message. */
const RESPONSE_TYPE = 8;

function isSealed(data: ArrayBuffer | string): boolean {
  let head: Uint8Array;
  if (typeof data === "string") {
    try {
      head = fromText(data.slice(0, TEXT_HEADER_CHARS));
    } catch {
      return false;
    }
  } else {
    head = new Uint8Array(data, 0, Math.min(2, data.byteLength));
  }
  return head.length >= 2 && (head[1]! & SEALED_FLAG) !== 0;
}

export class Relay {
  readonly stats: RelayStats;
  onChange: () => void = () => undefined;
  /** The self-test's counts (reset by the self-test when it starts). */
  selfTest: SelfTestCounts = zeroSelfTestCounts();
  /** The laptop's SELF_TEST_DONE (leg-local: consumed here, never relayed). */
  onSelfTestDone: (done: SelfTestDone) => void = () => undefined;
  private readonly laptop: Leg;
  private readonly exit: Leg;
  private readonly pendingPings = new Map<number, number>();
  /** Sealed end-to-end PINGs carry no readable id: their send times, answered in order. */
  private readonly sealedPings: number[] = [];
  private running = false;

  constructor(options: RelayOptions) {
    const changed = () => this.onChange();
    this.laptop = new Leg({
      name: "laptop",
      hop: Hop.LAPTOP_LEG,
      encoding: options.encoding,
      url: () =>
        `${options.laptopUrl}/relay?secret=${encodeURIComponent(options.secret)}&${ENCODING_PARAM}=${options.encoding}`,
      message: (data) => this.fromLaptop(data),
      opened: () => this.exit.start(),
      closed: () => this.exit.stop("laptop leg down"),
      changed,
    });
    this.exit = new Leg({
      name: "exit",
      hop: Hop.EXIT_LEG,
      encoding: options.encoding,
      url: () => `${options.exitUrl}?${ENCODING_PARAM}=${options.encoding}`,
      message: (data) => this.fromExit(data),
      opened: changed,
      closed: () => {
        if (this.stats.session !== "refused") this.stats.session = "none";
      },
      changed,
    });
    this.stats = {
      laptop: this.laptop.stats,
      exit: this.exit.stats,
      endToEndRttMs: undefined,
      bytesUp: 0,
      bytesDown: 0,
      packetsUp: 0,
      packetsDown: 0,
      drops: { laptop_leg_down: 0, exit_leg_down: 0, laptop_leg_backlog: 0, exit_leg_backlog: 0 },
      session: "none",
      address: undefined,
      sessionStartedAt: undefined,
      refusal: undefined,
    };
  }

  get relaying(): boolean {
    return (
      this.laptop.open &&
      this.exit.open &&
      (this.stats.session === "established" || this.stats.session === "resumed")
    );
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.laptop.start();
  }

  stop(): void {
    this.running = false;
    this.exit.stop();
    this.laptop.stop();
  }

  /**
   * The user paused: both legs close with PAUSED, so the laptop says the phone paused (not that
   * the relay was lost) and the exit keeps the session detached for its grace period, so a
   * resume within it gets the same session and address back.
   */
  pause(): void {
    this.running = false;
    this.exit.stop("paused", ErrorCodes.PAUSED.close);
    this.laptop.stop("paused", ErrorCodes.PAUSED.close);
  }

  /** The network or the page came back: redial waiting legs now. */
  nudge(): void {
    this.laptop.nudge();
    this.exit.nudge();
  }

  /** Sends a frame on the laptop leg only (the self-test's request); false when it is not open. */
  toLaptop(frame: Uint8Array): boolean {
    return this.laptop.sendFrame(frame);
  }

  /** Sends a PING of the given leg's own now (the self-test's round trips); false when it is not open. */
  pingLeg(name: "laptop" | "exit"): boolean {
    return (name === "laptop" ? this.laptop : this.exit).pingNow();
  }

  /** Called with each round trip a leg measures (its own PINGs), ms. */
  onLegRtt(listener: ((name: "laptop" | "exit", ms: number) => void) | undefined): void {
    this.laptop.onRtt = listener && ((ms) => listener("laptop", ms));
    this.exit.onRtt = listener && ((ms) => listener("exit", ms));
  }

  /** Stats with the sockets' current backlog sampled in. */
  sample(): RelayStats {
    this.stats.laptop.bufferedAmount = this.laptop.bufferedAmount;
    this.stats.exit.bufferedAmount = this.exit.bufferedAmount;
    return this.stats;
  }

  private fromLaptop(data: ArrayBuffer | string): void {
    const header = peekHeader(data);
    if (header?.type === SelfTestType.ECHO) {
      this.relayTest(data, this.exit, "up");
      return;
    }
    if (header?.type === SelfTestType.SELF_TEST_DONE) {
      try {
        this.onSelfTestDone(decodeSelfTestDone(fromMessage(data)));
      } catch {
        // a malformed report is the laptop's bug; nothing to relay either way
      }
      return;
    }
    if (header?.type === FrameType.DATA) {
      if (!this.exit.open) {
        this.drop("exit_leg_down");
        return;
      }
      if (this.exit.bufferedAmount > MAX_LEG_BUFFER_BYTES) {
        this.drop("exit_leg_backlog");
        return;
      }
      this.exit.send(data);
      this.stats.packetsUp += header.count;
      this.stats.bytesUp += size(data);
      return;
    }
    if (header?.type === FrameType.PING) this.notePing(data);
    this.exit.send(data);
  }

  private fromExit(data: ArrayBuffer | string): void {
    const header = peekHeader(data);
    if (header?.type === SelfTestType.ECHO_REPLY) {
      this.relayTest(data, this.laptop, "down");
      return;
    }
    if (header?.type === FrameType.DATA) {
      if (!this.laptop.open) {
        this.drop("laptop_leg_down");
        return;
      }
      if (this.laptop.bufferedAmount > MAX_LEG_BUFFER_BYTES) {
        this.drop("laptop_leg_backlog");
        return;
      }
      this.laptop.send(data);
      this.stats.packetsDown += header.count;
      this.stats.bytesDown += size(data);
      return;
    }
    if (header) this.observe(header.type, data);
    this.laptop.send(data);
  }

  /**
   * Self-test traffic is relayed like DATA (same backlog bound) and counted apart; its bytes are
   * data the phone's plan carries, so they count as data used too.
   */
  private relayTest(data: ArrayBuffer | string, to: Leg, direction: "up" | "down"): void {
    const counts = this.selfTest;
    if (!to.open || to.bufferedAmount > MAX_LEG_BUFFER_BYTES) {
      if (direction === "up") counts.droppedUp++;
      else counts.droppedDown++;
      return;
    }
    to.send(data);
    const bytes = size(data);
    const now = Date.now();
    if (direction === "up") {
      counts.messagesUp++;
      counts.bytesUp += bytes;
      counts.firstAt ??= now;
      this.stats.bytesUp += bytes;
    } else {
      counts.messagesDown++;
      counts.bytesDown += bytes;
      counts.lastAt = now;
      this.stats.bytesDown += bytes;
    }
  }

  private drop(reason: RelayDropReason): void {
    this.stats.drops[reason]++;
  }

  /** Control frames from the exit are rare and small: decoded for the session's state. */
  private observe(type: number, data: ArrayBuffer | string): void {
    if (isSealed(data)) {
      this.observeSealed(type);
      return;
    }
    if (type === RESPONSE_TYPE) {
      this.stats.session = "handshaking";
      this.onChange();
      return;
    }
    if (
      type !== FrameType.WELCOME &&
      type !== FrameType.CLOSE &&
      type !== FrameType.CHALLENGE &&
      type !== FrameType.PONG
    ) {
      return;
    }
    let frame: ReturnType<typeof decodeFrame>;
    try {
      frame = decodeFrame(fromMessage(data));
    } catch {
      return; // the laptop will judge it
    }
    if (frame?.type === FrameType.CHALLENGE) {
      this.stats.session = "handshaking";
    } else if (frame?.type === FrameType.WELCOME) {
      this.stats.session = frame.resumed ? "resumed" : "established";
      if (!frame.resumed || this.stats.sessionStartedAt === undefined)
        this.stats.sessionStartedAt = Date.now();
      this.stats.address = frame.address;
      this.stats.refusal = undefined;
    } else if (frame?.type === FrameType.CLOSE) {
      this.stats.session = "refused";
      this.stats.refusal = frame.reason;
    } else if (frame?.type === FrameType.PONG && frame.hop === Hop.END_TO_END) {
      const sentAt = this.pendingPings.get(frame.id);
      this.pendingPings.delete(frame.id);
      if (sentAt !== undefined)
        this.stats.endToEndRttMs = Date.now() - sentAt + (this.stats.laptop.rttMs ?? 0);
      return;
    } else {
      return;
    }
    this.onChange();
  }

  /**
   * Protocol v2: the session's frames are sealed, so the relay knows only their types. A WELCOME
   * means established (resumed or not, and the address, are the laptop's to know); a CLOSE ends
   * the session; a sealed PONG answers the oldest sealed PING.
   */
  private observeSealed(type: number): void {
    if (type === FrameType.WELCOME) {
      this.stats.session = "established";
      this.stats.sessionStartedAt ??= Date.now();
      this.stats.address = undefined;
      this.stats.refusal = undefined;
    } else if (type === FrameType.CLOSE) {
      this.stats.session = "ended";
    } else if (type === FrameType.PONG) {
      const sentAt = this.sealedPings.shift();
      if (sentAt !== undefined)
        this.stats.endToEndRttMs = Date.now() - sentAt + (this.stats.laptop.rttMs ?? 0);
      return;
    } else {
      return;
    }
    this.onChange();
  }

  private notePing(data: ArrayBuffer | string): void {
    if (isSealed(data)) {
      if (this.sealedPings.length >= MAX_PENDING_PINGS) this.sealedPings.shift();
      this.sealedPings.push(Date.now());
      return;
    }
    try {
      const frame = decodeFrame(fromMessage(data));
      if (frame?.type !== FrameType.PING || frame.hop !== Hop.END_TO_END) return;
      if (this.pendingPings.size >= MAX_PENDING_PINGS) this.pendingPings.clear();
      this.pendingPings.set(frame.id, Date.now());
    } catch {
      // the exit will judge it
    }
  }
}

function size(data: ArrayBuffer | string): number {
  return typeof data === "string" ? data.length : data.byteLength;
}
