// Which frames on one leg are sealed, and sealing or opening them: the one place a tunnel end
// asks, between its frames and the wire (protocol v2, docs/PROTOCOL.md).
//
//   before the handshake's keys:  everything clear (CHALLENGE, HELLO, RESPONSE, a refusal's CLOSE,
//                                 the phone's leg pings); a sealed frame cannot be opened: dropped
//   after:                        everything sealed but the phone's own leg pings (PING/PONG with
//                                 hop 1 or 2, which the phone makes and answers); a clear frame of
//                                 any other kind is the relay's forgery: dropped
//
// Every refusal is a counted drop, never an exception: a relay cannot end a healthy session by
// what it sends. `inbound` tells the caller whether a frame was sealed, so it can tell an
// authenticated CLOSE from the exit from one anybody could have made.
import { FrameType, Hop } from "../protocol/frames.js";
import { HEADER_BYTES } from "../protocol/limits.js";
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

  /** True once the handshake's keys are in: from then on, frames are sealed. */
  get keyed(): boolean {
    return this.sealer !== undefined;
  }

  /** Keys moved on from (rekeys), sending and receiving. */
  get rekeys(): { send: number; receive: number } {
    return { send: this.sealer?.rekeys ?? 0, receive: this.opener?.rekeys ?? 0 };
  }

  /** Installs the handshake's transport keys (once per leg). */
  install(keys: { send: Uint8Array; receive: Uint8Array }): void {
    if (this.sealer) throw new Error("a leg's keys are installed once");
    this.sealer = new FrameSealer(keys.send);
    this.opener = new FrameOpener(keys.receive);
  }

  /** A frame on its way out: sealed once keyed, unless it is a leg ping. Throws as FrameSealer.seal. */
  outbound(frame: Uint8Array): Uint8Array {
    if (!this.sealer || isLegPing(frame)) return frame;
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
    if (this.opener && !isLegPing(message)) return this.drop("unsealed");
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
