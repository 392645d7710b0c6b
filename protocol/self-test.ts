// The self-test's frames (issue 15.4): how the phone measures its own relay rate with test traffic
// that only the laptop's authenticated session can make an exit send. Same 8-byte header as every
// frame (codec.ts); types a v1 end does not know are skipped there, so a phone asking an older
// laptop just sees no echoes and says so.
//
// Flow:
//   1. phone -> laptop   SELF_TEST       leg-local (the phone's laptop leg only, never relayed):
//                                        durationMs u32 | maxBytes u32 | payloadBytes u32
//   2. laptop -> exit    ECHO            end to end, inside the session (sealed in v2 like any
//                                        end-to-end frame; the type stays in the clear header so
//                                        the phone can count it): seq u32 | sentAt f64 | padding
//   3. exit -> laptop    ECHO_REPLY      the ECHO's payload, byte for byte; an exit answers only
//                                        within an established session, and at most as many
//                                        bytes as the session's own rate allows
//   4. laptop -> phone   SELF_TEST_DONE  leg-local: echoesSent u32 | echoesReceived u32 |
//                                        bytesSent u32 | bytesReceived u32 | elapsedMs u32
// The laptop sends ECHOs as fast as its send queue takes them, for durationMs or until maxBytes are
// sent, whichever comes first, then waits up to ECHO_DRAIN_MS for the replies and sends
// SELF_TEST_DONE. The phone counts ECHO and ECHO_REPLY messages and bytes as they pass.
import { ProtocolError } from "./errors.js";
import { HEADER_BYTES } from "./limits.js";

export const SelfTestType = {
  SELF_TEST: 0x40,
  ECHO: 0x41,
  ECHO_REPLY: 0x42,
  SELF_TEST_DONE: 0x43,
} as const;

/** Longest self-test a laptop runs: a few seconds is enough for a rate, and bounds its cost, ms. */
export const MAX_SELF_TEST_MS = 5_000;
/** Most bytes of ECHO a laptop sends for one self-test (as many come back): bounds the data it costs. */
export const MAX_SELF_TEST_BYTES = 16 * 1000 * 1000;
/** Smallest ECHO payload: the sequence number and the send time. */
export const MIN_ECHO_PAYLOAD_BYTES = 12;
/**
 * Largest ECHO payload, bytes: 64 KiB, well inside a frame even once sealed (v2 adds a counter and
 * a tag), and as large as a WebSocket message the phone's browser moves in one piece.
 */
export const MAX_ECHO_PAYLOAD_BYTES = 64 * 1024;
/** After the last ECHO, replies are waited for this long before SELF_TEST_DONE, ms. */
export const ECHO_DRAIN_MS = 1_000;
/** A laptop runs at most one self-test this often, whoever asks, ms. */
export const SELF_TEST_MIN_INTERVAL_MS = 10_000;

export interface SelfTestRequest {
  durationMs: number;
  maxBytes: number;
  payloadBytes: number;
}

export interface SelfTestDone {
  echoesSent: number;
  echoesReceived: number;
  bytesSent: number;
  bytesReceived: number;
  elapsedMs: number;
}

function header(type: number, payloadBytes: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(HEADER_BYTES + payloadBytes);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, type);
  view.setUint32(4, payloadBytes);
  return { bytes, view };
}

function payloadOf(message: Uint8Array, type: number, name: string): DataView {
  if (message.length < HEADER_BYTES) throw new ProtocolError("TRUNCATED", name);
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  if (view.getUint8(0) !== type) throw new ProtocolError("UNEXPECTED_FRAME", `not ${name}`);
  if (view.getUint32(4) !== message.length - HEADER_BYTES) throw new ProtocolError("LENGTH_MISMATCH", name);
  return new DataView(message.buffer, message.byteOffset + HEADER_BYTES, message.length - HEADER_BYTES);
}

export function encodeSelfTest(request: SelfTestRequest): Uint8Array {
  const { bytes, view } = header(SelfTestType.SELF_TEST, 12);
  view.setUint32(8, request.durationMs);
  view.setUint32(12, request.maxBytes);
  view.setUint32(16, request.payloadBytes);
  return bytes;
}

/** A SELF_TEST request, its values checked against the limits (BAD_FIELD past them). */
export function decodeSelfTest(message: Uint8Array): SelfTestRequest {
  const view = payloadOf(message, SelfTestType.SELF_TEST, "SELF_TEST");
  if (view.byteLength !== 12) throw new ProtocolError("LENGTH_MISMATCH", "SELF_TEST");
  const request = {
    durationMs: view.getUint32(0),
    maxBytes: view.getUint32(4),
    payloadBytes: view.getUint32(8),
  };
  if (request.durationMs === 0 || request.durationMs > MAX_SELF_TEST_MS)
    throw new ProtocolError("BAD_FIELD", `self-test of ${request.durationMs} ms`);
  if (request.maxBytes === 0 || request.maxBytes > MAX_SELF_TEST_BYTES)
    throw new ProtocolError("BAD_FIELD", `self-test of ${request.maxBytes} bytes`);
  if (request.payloadBytes < MIN_ECHO_PAYLOAD_BYTES || request.payloadBytes > MAX_ECHO_PAYLOAD_BYTES)
    throw new ProtocolError("BAD_FIELD", `echo payload of ${request.payloadBytes} bytes`);
  return request;
}

export function encodeEcho(seq: number, sentAt: number, payloadBytes: number): Uint8Array {
  const size = Math.max(MIN_ECHO_PAYLOAD_BYTES, Math.min(MAX_ECHO_PAYLOAD_BYTES, payloadBytes));
  const { bytes, view } = header(SelfTestType.ECHO, size);
  view.setUint32(8, seq);
  view.setFloat64(12, sentAt);
  return bytes;
}

/** The exit's answer to an ECHO: the same bytes with the reply's type. */
export function echoReply(echo: Uint8Array): Uint8Array {
  payloadOf(echo, SelfTestType.ECHO, "ECHO");
  if (echo.length - HEADER_BYTES < MIN_ECHO_PAYLOAD_BYTES) throw new ProtocolError("TRUNCATED", "ECHO");
  const reply = echo.slice();
  reply[0] = SelfTestType.ECHO_REPLY;
  return reply;
}

export function decodeEchoReply(message: Uint8Array): { seq: number; sentAt: number } {
  const view = payloadOf(message, SelfTestType.ECHO_REPLY, "ECHO_REPLY");
  if (view.byteLength < MIN_ECHO_PAYLOAD_BYTES) throw new ProtocolError("TRUNCATED", "ECHO_REPLY");
  return { seq: view.getUint32(0), sentAt: view.getFloat64(4) };
}

export function encodeSelfTestDone(done: SelfTestDone): Uint8Array {
  const { bytes, view } = header(SelfTestType.SELF_TEST_DONE, 20);
  const fields = [done.echoesSent, done.echoesReceived, done.bytesSent, done.bytesReceived, done.elapsedMs];
  for (const [i, value] of fields.entries()) {
    view.setUint32(8 + 4 * i, Math.min(0xffffffff, Math.max(0, Math.round(value))));
  }
  return bytes;
}

export function decodeSelfTestDone(message: Uint8Array): SelfTestDone {
  const view = payloadOf(message, SelfTestType.SELF_TEST_DONE, "SELF_TEST_DONE");
  if (view.byteLength !== 20) throw new ProtocolError("LENGTH_MISMATCH", "SELF_TEST_DONE");
  return {
    echoesSent: view.getUint32(0),
    echoesReceived: view.getUint32(4),
    bytesSent: view.getUint32(8),
    bytesReceived: view.getUint32(12),
    elapsedMs: view.getUint32(16),
  };
}
