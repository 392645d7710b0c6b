// The text form of a frame: the binary frame in standard base64 (RFC 4648 section 4, "+/" alphabet,
// "=" padding), for legs where binary WebSocket messages cannot pass. Strict on input: one text per
// frame, so a character outside the alphabet, a length that is not a multiple of 4, misplaced
// padding or non-zero bits under the padding are all BAD_BASE64. Table-driven over Uint8Array
// (no atob/btoa, no Buffer) because it carries every packet on such a leg.

import { ProtocolError } from "./errors.js";
import { MAX_FRAME_BYTES, MAX_TEXT_FRAME_CHARS } from "./limits.js";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const PAD = 0x3d; // "="
const INVALID = 0xff;

/** 6-bit value -> ASCII code of its character. */
const ENCODE = new Uint8Array(64);
/** ASCII code -> 6-bit value, INVALID for anything outside the alphabet (including "="). */
const DECODE = new Uint8Array(128).fill(INVALID);
for (let i = 0; i < 64; i++) {
  const c = ALPHABET.charCodeAt(i);
  ENCODE[i] = c;
  DECODE[c] = i;
}
/** 12-bit value -> its two characters, laid out in memory in order (whatever the platform's endianness). */
const ENCODE_PAIR = new Uint16Array(4096);
const pairBytes = new Uint8Array(ENCODE_PAIR.buffer);
for (let i = 0; i < 4096; i++) {
  pairBytes[2 * i] = ENCODE[i >>> 6]!;
  pairBytes[2 * i + 1] = ENCODE[i & 63]!;
}

// Base64 output is ASCII, which UTF-8 decodes byte for byte: the fastest way to a string everywhere.
const ascii = new TextDecoder();

/** The base64 text of a binary frame. */
export function toText(frame: Uint8Array): string {
  const n = frame.length;
  if (n > MAX_FRAME_BYTES) throw new ProtocolError("FRAME_TOO_LARGE", `${n} bytes`);
  const out = new Uint8Array(Math.ceil(n / 3) * 4);
  const pairs = new Uint16Array(out.buffer);
  const whole = n - (n % 3);
  let o = 0; // in pairs of characters
  for (let i = 0; i < whole; i += 3) {
    const t = (frame[i]! << 16) | (frame[i + 1]! << 8) | frame[i + 2]!;
    pairs[o] = ENCODE_PAIR[t >>> 12]!;
    pairs[o + 1] = ENCODE_PAIR[t & 0xfff]!;
    o += 2;
  }
  const c = 2 * o; // in characters
  if (n - whole === 1) {
    const t = frame[whole]!;
    out[c] = ENCODE[t >>> 2]!;
    out[c + 1] = ENCODE[(t & 3) << 4]!;
    out[c + 2] = PAD;
    out[c + 3] = PAD;
  } else if (n - whole === 2) {
    const t = (frame[whole]! << 8) | frame[whole + 1]!;
    out[c] = ENCODE[t >>> 10]!;
    out[c + 1] = ENCODE[(t >>> 4) & 63]!;
    out[c + 2] = ENCODE[(t & 15) << 2]!;
    out[c + 3] = PAD;
  }
  return ascii.decode(out);
}

/** The binary frame in a base64 text. Throws ProtocolError FRAME_TOO_LARGE or BAD_BASE64, nothing else. */
export function fromText(text: string): Uint8Array {
  const n = text.length;
  if (n > MAX_TEXT_FRAME_CHARS) throw new ProtocolError("FRAME_TOO_LARGE", `${n} characters`);
  if (n % 4 !== 0) throw new ProtocolError("BAD_BASE64", `length ${n} is not a multiple of 4`);
  if (n === 0) return new Uint8Array(0);
  const pad = text.charCodeAt(n - 1) !== PAD ? 0 : text.charCodeAt(n - 2) !== PAD ? 1 : 2;
  const out = new Uint8Array((n / 4) * 3 - pad);
  const whole = pad === 0 ? n : n - 4; // characters in quads without padding
  let o = 0;
  for (let i = 0; i < whole; i += 4) {
    const c0 = text.charCodeAt(i);
    const c1 = text.charCodeAt(i + 1);
    const c2 = text.charCodeAt(i + 2);
    const c3 = text.charCodeAt(i + 3);
    // Codes above 127 are outside the table; INVALID (0xff) has bits above the low six.
    const a = DECODE[c0 & 127]!;
    const b = DECODE[c1 & 127]!;
    const c = DECODE[c2 & 127]!;
    const d = DECODE[c3 & 127]!;
    if (((c0 | c1 | c2 | c3) & ~127) !== 0 || ((a | b | c | d) & ~63) !== 0) throw badChar(text, i);
    out[o] = (a << 2) | (b >>> 4);
    out[o + 1] = ((b & 15) << 4) | (c >>> 2);
    out[o + 2] = ((c & 3) << 6) | d;
    o += 3;
  }
  if (pad !== 0) {
    const a = sextet(text, whole);
    const b = sextet(text, whole + 1);
    out[o] = (a << 2) | (b >>> 4);
    if (pad === 2) {
      if ((b & 15) !== 0) throw new ProtocolError("BAD_BASE64", "non-zero bits under the padding");
    } else {
      const c = sextet(text, whole + 2);
      if ((c & 3) !== 0) throw new ProtocolError("BAD_BASE64", "non-zero bits under the padding");
      out[o + 1] = ((b & 15) << 4) | (c >>> 2);
    }
  }
  return out;
}

function sextet(text: string, i: number): number {
  const code = text.charCodeAt(i);
  const value = code > 127 ? INVALID : DECODE[code]!;
  if (value === INVALID) throw badChar(text, i);
  return value;
}

function badChar(text: string, from: number): ProtocolError {
  for (let i = from; i < from + 4; i++) {
    const code = text.charCodeAt(i);
    if (code > 127 || DECODE[code] === INVALID) {
      const what = code === PAD ? "padding before the end" : "invalid character";
      return new ProtocolError("BAD_BASE64", `${what} at ${i}`);
    }
  }
  return new ProtocolError("BAD_BASE64", `invalid character near ${from}`);
}
