// Per-frame sealing of protocol v2: every end-to-end frame, sealed with the direction's transport
// key from the handshake (noise.ts), a 64-bit counter as its nonce, and its clear header as
// associated data. The phone still reads the header (type, count, sizes) and nothing else.
//
//   v1 frame:      type | flags | count | payloadLength=P | payload[P]
//   sealed frame:  type | flags|SEALED|phase | count | payloadLength=8+P+16
//                  | counter u64 (big-endian) | ChaCha20-Poly1305(key, counter, header, payload)[P] | tag[16]
//
// Associated data: the 8 header bytes as sent, so a changed type, count, size or flag fails the
// tag; the counter is the nonce, so a changed counter does too. Keys are per direction and per
// handshake (one per relay connection), so a frame replayed into the other direction or onto
// another connection never opens.
//
// Receiving, in this order (a refusal is a counted drop reason, never an exception):
//   1. shorter than a header or longer than MAX_FRAME_BYTES            -> malformed
//   2. SEALED flag missing                                              -> not_sealed
//      shorter than header + counter + tag, payloadLength not the message's -> malformed
//   3. counter past the sender's limit                                  -> malformed
//   4. counter behind the replay window / already seen                  -> too_old / replayed
//   5. key chosen by the phase bit; the current key past its lifetime   -> key_expired
//   6. tag does not verify                                              -> forged
//   7. only now the counter is recorded and, on a new phase, the key moves on.
//
// Rekeying (Noise's REKEY, a one-way function of the old key, so a key taken from memory opens
// no earlier frame): the sender moves to the next key after REKEY_AFTER_MS or REKEY_AFTER_BYTES
// and flips the phase bit; the receiver follows on the first frame of the new phase that
// authenticates, keeping the previous key for frames reordered across the change. The counter
// keeps counting across keys and is never reused, so no (key, nonce) pair can repeat.
import { ProtocolError } from "../protocol/errors.js";
import { HeaderFlag } from "../protocol/frames.js";
import { HEADER_BYTES, MAX_DATA_FRAME_BYTES, MAX_FRAME_BYTES } from "../protocol/limits.js";
import { decrypt, encryptParts, rekey, TAG_BYTES } from "./noise-cipher.js";
import { ReplayWindow } from "./replay-window.js";

/** Flags bit 7: the frame is sealed (v1 never sets it). */
export const SEALED_FLAG = HeaderFlag.SEALED;
/** Flags bit 0: the key phase, flipped at each rekey. */
export const KEY_PHASE_FLAG = HeaderFlag.KEY_PHASE;
/** The counter, bytes: 64 bits on the wire, as the Noise nonce is. */
export const COUNTER_BYTES = 8;
/** What sealing adds to a frame: the counter and the tag. Batchers leave this much room. */
export const SEAL_OVERHEAD_BYTES = COUNTER_BYTES + TAG_BYTES;
/** Largest frame that can be sealed: the sealed frame must still fit MAX_FRAME_BYTES. */
export const MAX_SEALABLE_FRAME_BYTES = MAX_FRAME_BYTES - SEAL_OVERHEAD_BYTES;
// The batcher (protocol/batch.ts, isomorphic: it cannot import this) leaves exactly this room.
if (MAX_DATA_FRAME_BYTES !== MAX_SEALABLE_FRAME_BYTES)
  throw new Error("MAX_DATA_FRAME_BYTES must leave room for the seal");

/** Sender moves to the next key after this long, ms: WireGuard's REKEY_AFTER_TIME. */
export const REKEY_AFTER_MS = 120_000;
/**
 * ... or after sealing this many payload bytes (64 GiB): bounds what one key protects should it
 * leak, and stays far below AES-GCM's per-key bound too, should the suite ever change.
 */
export const REKEY_AFTER_BYTES = 2 ** 36;
/**
 * Receiver refuses frames under a key older than this, ms: the sender's REKEY_AFTER_MS plus a
 * minute for frames in flight and the two ends' timers starting a round trip apart.
 */
export const REJECT_AFTER_MS = REKEY_AFTER_MS + 60_000;
/** ... or after opening this many bytes under one key: the sender's limit plus one full frame. */
export const REJECT_AFTER_BYTES = REKEY_AFTER_BYTES + MAX_FRAME_BYTES;
/**
 * Highest counter either end uses: the largest integer a JS number holds exactly (2^53 - 1;
 * 285 years at a million frames a second). The sender refuses to go past it rather than repeat
 * a nonce; the receiver treats a larger one as malformed.
 */
export const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

export type OpenDropReason = "malformed" | "not_sealed" | "replayed" | "too_old" | "key_expired" | "forged";

export const OPEN_DROP_REASONS: readonly OpenDropReason[] = [
  "malformed",
  "not_sealed",
  "replayed",
  "too_old",
  "key_expired",
  "forged",
];

/** Clock and thresholds; the defaults are the constants above (tests shrink them). */
export interface SealOptions {
  now?: () => number;
  rekeyAfterMs?: number;
  rekeyAfterBytes?: number;
}

export interface OpenOptions {
  now?: () => number;
  rejectAfterMs?: number;
  rejectAfterBytes?: number;
}

export type Opened = { frame: Buffer; drop?: undefined } | { frame?: undefined; drop: OpenDropReason };

/** True when a message carries the SEALED flag: an end-to-end frame, not a leg's clear one. */
export function isSealed(message: Uint8Array): boolean {
  return message.length >= HEADER_BYTES && (message[1]! & SEALED_FLAG) !== 0;
}

/** Seals the frames one end sends, under the key for its direction. */
export class FrameSealer {
  private key: Buffer;
  private phase = 0;
  private next = 0;
  private keySince: number;
  private keyBytes = 0;
  private readonly now: () => number;
  private readonly rekeyAfterMs: number;
  private readonly rekeyAfterBytes: number;
  /** Keys moved on from since the handshake. */
  rekeys = 0;

  constructor(key: Uint8Array, options: SealOptions = {}) {
    this.key = Buffer.from(key);
    this.now = options.now ?? Date.now;
    this.rekeyAfterMs = options.rekeyAfterMs ?? REKEY_AFTER_MS;
    this.rekeyAfterBytes = options.rekeyAfterBytes ?? REKEY_AFTER_BYTES;
    this.keySince = this.now();
  }

  /**
   * The sealed form of `frame`, a whole v1 frame (header and payload). Throws ProtocolError
   * FRAME_TOO_LARGE for a frame over MAX_SEALABLE_FRAME_BYTES (the batcher leaves room), and
   * BAD_FIELD past MAX_COUNTER (the connection must hand-shake again).
   */
  seal(frame: Uint8Array): Buffer {
    if (frame.length < HEADER_BYTES) throw new ProtocolError("TRUNCATED", "a frame has an 8-byte header");
    if (frame.length > MAX_SEALABLE_FRAME_BYTES) {
      throw new ProtocolError(
        "FRAME_TOO_LARGE",
        `${frame.length} bytes, sealable ${MAX_SEALABLE_FRAME_BYTES}`,
      );
    }
    if (this.next > MAX_COUNTER) throw new ProtocolError("BAD_FIELD", "frame counter exhausted");
    const payload = frame.subarray(HEADER_BYTES);
    const now = this.now();
    if (now - this.keySince >= this.rekeyAfterMs || this.keyBytes + payload.length > this.rekeyAfterBytes) {
      this.key = rekey(this.key);
      this.phase ^= KEY_PHASE_FLAG;
      this.keySince = now;
      this.keyBytes = 0;
      this.rekeys++;
    }
    const counter = this.next++;
    const head = Buffer.allocUnsafe(HEADER_BYTES + COUNTER_BYTES);
    head[0] = frame[0]!;
    head[1] = (frame[1]! & ~(SEALED_FLAG | KEY_PHASE_FLAG)) | SEALED_FLAG | this.phase;
    head[2] = frame[2]!;
    head[3] = frame[3]!;
    head.writeUInt32BE(payload.length + SEAL_OVERHEAD_BYTES, 4);
    head.writeUInt32BE(Math.floor(counter / 0x1_0000_0000), HEADER_BYTES);
    head.writeUInt32BE(counter % 0x1_0000_0000, HEADER_BYTES + 4);
    const [body, tag] = encryptParts(this.key, counter, head.subarray(0, HEADER_BYTES), payload);
    this.keyBytes += payload.length;
    return Buffer.concat([head, body, tag], head.length + body.length + TAG_BYTES);
  }

  /** Counter the next frame gets (frames sealed so far). */
  get sealed(): number {
    return this.next;
  }
}

/** Opens the frames one end receives, under the key for that direction. */
export class FrameOpener {
  readonly drops: Record<OpenDropReason, number> = {
    malformed: 0,
    not_sealed: 0,
    replayed: 0,
    too_old: 0,
    key_expired: 0,
    forged: 0,
  };
  /** Keys moved on from since the handshake (following the sender's phase). */
  rekeys = 0;
  private readonly window = new ReplayWindow();
  private key: Buffer;
  private phase = 0;
  /** First counter opened under the current key (0 for the handshake's). */
  private keyStart = 0;
  private keySince: number;
  private keyBytes = 0;
  /** The key before the current one, for frames reordered across a rekey. */
  private previous: Buffer | undefined;
  /** REKEY(current), worked out when a frame of the other phase first needs it. */
  private upcoming: Buffer | undefined;
  private readonly now: () => number;
  private readonly rejectAfterMs: number;
  private readonly rejectAfterBytes: number;

  constructor(key: Uint8Array, options: OpenOptions = {}) {
    this.key = Buffer.from(key);
    this.now = options.now ?? Date.now;
    this.rejectAfterMs = options.rejectAfterMs ?? REJECT_AFTER_MS;
    this.rejectAfterBytes = options.rejectAfterBytes ?? REJECT_AFTER_BYTES;
    this.keySince = this.now();
  }

  /** The v1 frame inside a sealed message, or why it was dropped (counted in `drops`). */
  open(message: Uint8Array): Opened {
    const drop = (reason: OpenDropReason): Opened => {
      this.drops[reason]++;
      return { drop: reason };
    };
    const length = message.length;
    if (length < HEADER_BYTES || length > MAX_FRAME_BYTES) return drop("malformed");
    const flags = message[1]!;
    if ((flags & SEALED_FLAG) === 0) return drop("not_sealed");
    if (length < HEADER_BYTES + SEAL_OVERHEAD_BYTES) return drop("malformed");
    const view = new DataView(message.buffer, message.byteOffset, length);
    if (view.getUint32(4) !== length - HEADER_BYTES) return drop("malformed");
    const high = view.getUint32(HEADER_BYTES);
    const counter = high * 0x1_0000_0000 + view.getUint32(HEADER_BYTES + 4);
    if (counter > MAX_COUNTER) return drop("malformed");
    const verdict = this.window.check(counter);
    if (verdict !== "fresh") return drop(verdict);

    const phase = flags & KEY_PHASE_FLAG;
    let key: Buffer;
    let advance = false;
    if (phase === this.phase) {
      if (this.now() - this.keySince > this.rejectAfterMs || this.keyBytes > this.rejectAfterBytes) {
        return drop("key_expired");
      }
      key = this.key;
    } else if (this.previous && counter < this.keyStart) {
      key = this.previous;
    } else {
      this.upcoming ??= rekey(this.key);
      key = this.upcoming;
      advance = true;
    }
    const sealedStart = HEADER_BYTES + COUNTER_BYTES;
    const payload = decrypt(key, counter, message.subarray(0, HEADER_BYTES), message.subarray(sealedStart));
    if (!payload) return drop("forged");

    this.window.accept(counter);
    if (advance) {
      this.previous = this.key;
      this.key = key;
      this.upcoming = undefined;
      this.phase = phase;
      this.keyStart = counter;
      this.keySince = this.now();
      this.keyBytes = 0;
      this.rekeys++;
    }
    if (key === this.key) this.keyBytes += payload.length;
    const frame = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
    frame[0] = message[0]!;
    frame[1] = flags & ~(SEALED_FLAG | KEY_PHASE_FLAG);
    frame[2] = message[2]!;
    frame[3] = message[3]!;
    frame.writeUInt32BE(payload.length, 4);
    payload.copy(frame, HEADER_BYTES);
    return { frame };
  }

  /** Frames refused so far, all reasons together. */
  get dropped(): number {
    let total = 0;
    for (const reason of OPEN_DROP_REASONS) total += this.drops[reason];
    return total;
  }
}
