// Which frames on one leg are sealed, and sealing or opening them: the one place a tunnel end
// asks, between its frames and the wire (protocol v2, docs/PROTOCOL.md).
//
//   before the handshake's keys:  everything clear (CHALLENGE, HELLO, RESPONSE, a refusal's CLOSE,
//                                 the phone's leg pings); a sealed frame cannot be opened: dropped
//   after:                        everything sealed but the phone's own leg pings (PING/PONG with
//                                 hop 1 or 2, which the phone makes and answers), on the laptop's
//                                 leg the phone's self-test (SELF_TEST, SELF_TEST_DONE), and there
//                                 too a new handshake (CHALLENGE, HELLO, RESPONSE): the
//                                 phone redials its exit leg while keeping the laptop's, and each
//                                 exit connection has its own handshake, which installs new keys.
//                                 A clear frame of any other kind is the relay's forgery: dropped
//
// Every refusal is a counted drop, never an exception: a relay cannot end a healthy session by
// what it sends. `inbound` tells the caller whether a frame was sealed, so it can tell an
// authenticated CLOSE from the exit from one anybody could have made.
import { FrameType, Hop } from "../protocol/frames.js";
import { HEADER_BYTES } from "../protocol/limits.js";
import { SelfTestType } from "../protocol/self-test.js";
import { RESPONSE_TYPE } from "./noise-messages.js";
import { FrameOpener, FrameSealer, isSealed, OPEN_DROP_REASONS, type OpenDropReason } from "./seal.js";

export type LegDropReason =
  | OpenDropReason
  /** A clear frame other than a leg ping, after the keys: only the relay could have made it. */
  | "unsealed"
  /** A sealed frame before the keys: nothing can open it. */
  | "early";

export const LEG_DROP_REASONS: readonly LegDropReason[] = [...OPEN_DROP_REASONS, "unsealed", "early"];

export type Inbound =
  | { frame: Uint8Array; sealed: boolean; drop?: undefined }
  | { frame?: undefined; drop: LegDropReason };

/** The phone's own pings and their answers (hop 1 or 2): the only frames clear after the keys. */
/** Which end of the tunnel a leg belongs to: the laptop's leg sees a new handshake per exit leg. */
export type LegRole = "laptop" | "exit";

/**
 * Frames that stay clear on a keyed leg: leg pings; on the laptop's leg also the handshake's and
 * the phone's self-test (SELF_TEST and SELF_TEST_DONE are between the phone and the laptop only).
 */
export function staysClear(frame: Uint8Array, role: LegRole): boolean {
  if (isLegPing(frame)) return true;
  if (role !== "laptop" || frame.length < HEADER_BYTES || isSealed(frame)) return false;
  return LAPTOP_LEG_CLEAR.has(frame[0]!);
}

const LAPTOP_LEG_CLEAR: ReadonlySet<number> = new Set([
  FrameType.CHALLENGE,
  FrameType.HELLO,
  RESPONSE_TYPE,
  SelfTestType.SELF_TEST,
  SelfTestType.SELF_TEST_DONE,
]);

export function isLegPing(frame: Uint8Array): boolean {
  const type = frame[0];
  if (frame.length <= HEADER_BYTES || (type !== FrameType.PING && type !== FrameType.PONG)) return false;
  if (isSealed(frame)) return false;
  const hop = frame[HEADER_BYTES];
  return hop === Hop.LAPTOP_LEG || hop === Hop.EXIT_LEG;
}

export class LegSeal {
  readonly drops = Object.fromEntries(LEG_DROP_REASONS.map((reason) => [reason, 0])) as Record<
    LegDropReason,
    number
  >;
  private sealer: FrameSealer | undefined;
  private opener: FrameOpener | undefined;
  /** Handshakes whose keys were installed on this leg. */
  handshakes = 0;

  constructor(private readonly role: LegRole) {}

  /** True once the handshake's keys are in: from then on, frames are sealed. */
  get keyed(): boolean {
    return this.sealer !== undefined;
  }

  /** Keys moved on from (rekeys) under the current handshake, sending and receiving. */
  get rekeys(): { send: number; receive: number } {
    return { send: this.sealer?.rekeys ?? 0, receive: this.opener?.rekeys ?? 0 };
  }

  /**
   * Installs a handshake's transport keys. On the exit's leg once; on the laptop's leg once per
   * exit connection (a new handshake replaces the keys, counters and replay window).
   */
  install(keys: { send: Uint8Array; receive: Uint8Array }): void {
    if (this.sealer && this.role === "exit") throw new Error("an exit leg's keys are installed once");
    this.sealer = new FrameSealer(keys.send);
    this.opener = new FrameOpener(keys.receive);
    this.handshakes++;
  }

  /** A frame on its way out: sealed once keyed, unless it stays clear. Throws as FrameSealer.seal. */
  outbound(frame: Uint8Array): Uint8Array {
    if (!this.sealer || staysClear(frame, this.role)) return frame;
    return this.sealer.seal(frame);
  }

  /** A message from the leg (binary, after base64): the frame in it, or why it was dropped. */
  inbound(message: Uint8Array): Inbound {
    if (isSealed(message)) {
      if (!this.opener) return this.drop("early");
      const opened = this.opener.open(message);
      if (opened.drop) return this.drop(opened.drop);
      return { frame: opened.frame, sealed: true };
    }
    if (this.opener && !staysClear(message, this.role)) return this.drop("unsealed");
    return { frame: message, sealed: false };
  }

  /** Frames refused so far, all reasons together. */
  get dropped(): number {
    let total = 0;
    for (const reason of LEG_DROP_REASONS) total += this.drops[reason];
    return total;
  }

  private drop(reason: LegDropReason): Inbound {
    this.drops[reason]++;
    return { drop: reason };
  }
}
