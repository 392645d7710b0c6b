// Hostile messages for the fuzz tests (only tests import this file): what a broken or malicious
// peer can put in a WebSocket message, binary or text. Weighted so that most cases get past the
// first checks and reach deeper code: valid frames with a few bytes changed, sane headers over
// random payloads, DATA batches whose inner lengths lie, plus plain noise and the odd huge message.
import fc from "fast-check";
import { encodeFrame } from "../protocol/codec.js";
import { type Frame, FrameType, Hop } from "../protocol/frames.js";
import {
  HEADER_BYTES,
  MAC_BYTES,
  MAX_FRAME_BYTES,
  MAX_TEXT_FRAME_CHARS,
  NONCE_BYTES,
  RESUME_TOKEN_BYTES,
  SESSION_ID_BYTES,
} from "../protocol/limits.js";
import { toText } from "../protocol/text.js";

/**
 * A check for the fuzz tests' hot loops: vitest's expect costs more than the case it checks, and
 * fast-check reports the failing input either way.
 */
export function must(condition: boolean, message: () => string): void {
  if (!condition) throw new Error(message());
}

/** Cases per decoder in the fuzz tests (the issue asks for at least 100k). */
export const FUZZ_RUNS = 100_000;

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const bytesOf = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const ipv4 = fc.tuple(u8, u8, u8, u8).map((parts) => parts.join("."));
/** Mostly the version this build speaks, sometimes one it does not. */
const version = fc.oneof({ weight: 4, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: u8 });
const versions = fc.tuple(version, version).map(([a, b]) => (a <= b ? [a, b] : [b, a]) as [number, number]);

/** An IPv4 packet header (20 bytes) with a random body: what DATA carries. */
const ipv4Packet = fc
  .tuple(ipv4, ipv4, fc.uint8Array({ maxLength: 80 }), fc.boolean())
  .map(([source, destination, body, valid]) => {
    const packet = new Uint8Array(20 + body.length);
    packet[0] = valid ? 0x45 : 0x65;
    packet.set(source.split(".").map(Number), 12);
    packet.set(destination.split(".").map(Number), 16);
    packet.set(body, 20);
    return packet;
  });

/** Any frame the protocol knows, well formed (a HELLO's mac is random: it will not verify). */
export const validFrame: fc.Arbitrary<Frame> = fc.oneof(
  fc
    .record({ versions, nonce: bytesOf(NONCE_BYTES) })
    .map(({ versions: [versionMin, versionMax], nonce }) => ({
      type: FrameType.CHALLENGE,
      versionMin,
      versionMax,
      nonce,
    })),
  fc
    .record({
      versions,
      capabilities: u32,
      clientId: fc.oneof(fc.constant("laptop-1"), fc.string({ unit: "binary", minLength: 1, maxLength: 16 })),
      mac: bytesOf(MAC_BYTES),
      resume: fc.option(bytesOf(RESUME_TOKEN_BYTES), { nil: undefined }),
    })
    .map(({ versions: [versionMin, versionMax], resume, ...rest }) => ({
      type: FrameType.HELLO,
      versionMin,
      versionMax,
      ...rest,
      ...(resume ? { resumeToken: resume } : {}),
    })),
  fc.record({
    type: fc.constant(FrameType.WELCOME),
    version: u8,
    sessionId: bytesOf(SESSION_ID_BYTES),
    resumeToken: bytesOf(RESUME_TOKEN_BYTES),
    address: ipv4,
    prefixLength: fc.integer({ min: 1, max: 32 }),
    mtu: fc.integer({ min: 576, max: 0xffff }),
    dns: fc.array(ipv4, { maxLength: 4 }),
    keepaliveSeconds: u16,
    resumed: fc.boolean(),
  }),
  fc.record({
    type: fc.constant(FrameType.DATA),
    packets: fc.array(fc.oneof(ipv4Packet, fc.uint8Array({ minLength: 1, maxLength: 40 })), {
      minLength: 1,
      maxLength: 8,
    }),
  }),
  fc.record({
    type: fc.constantFrom(FrameType.PING, FrameType.PONG),
    hop: fc.constantFrom(Hop.END_TO_END, Hop.LAPTOP_LEG, Hop.EXIT_LEG),
    id: u32,
    sentAt: fc.double(),
  }),
  fc.record({ type: fc.constant(FrameType.CLOSE), code: u16, reason: fc.string({ maxLength: 32 }) }),
) as fc.Arbitrary<Frame>;

function setPayloadLength(bytes: Uint8Array, length: number): Uint8Array {
  if (bytes.length >= HEADER_BYTES) new DataView(bytes.buffer, bytes.byteOffset).setUint32(4, length >>> 0);
  return bytes;
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), byte: u8 }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("extend" as const), tail: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant("type" as const), type: u8 }),
  fc.record({ kind: fc.constant("count" as const), count: u16 }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(valid: Uint8Array, mutations: Mutation[], fixLength: boolean): Uint8Array {
  let bytes = valid.slice();
  for (const m of mutations) {
    if (m.kind === "set") {
      if (bytes.length) bytes[m.at % bytes.length] = m.byte;
    } else if (m.kind === "truncate") {
      bytes = bytes.slice(0, m.at % (bytes.length + 1));
    } else if (m.kind === "extend") {
      const longer = new Uint8Array(bytes.length + m.tail.length);
      longer.set(bytes);
      longer.set(m.tail, bytes.length);
      bytes = longer;
    } else if (m.kind === "type") {
      if (bytes.length) bytes[0] = m.type;
    } else if (bytes.length >= 4) {
      new DataView(bytes.buffer).setUint16(2, m.count);
    }
  }
  // With the header's length fixed, the mutation reaches the payload decoders.
  return fixLength ? setPayloadLength(bytes, bytes.length - HEADER_BYTES) : bytes;
}

/** A DATA frame whose count or inner lengths do not add up to its payload. */
const lyingBatch = fc
  .record({
    count: fc.oneof(fc.integer({ min: 0, max: 8 }), u16),
    lengths: fc.array(u16, { minLength: 1, maxLength: 8 }),
    bytes: fc.uint8Array({ maxLength: 120 }),
  })
  .map(({ count, lengths, bytes }) => {
    const payload = new Uint8Array(lengths.length * 2 + bytes.length);
    const view = new DataView(payload.buffer);
    for (const [i, length] of lengths.entries()) view.setUint16(i * 2, length);
    payload.set(bytes, lengths.length * 2);
    const message = new Uint8Array(HEADER_BYTES + payload.length);
    message.set([FrameType.DATA, 0, count >> 8, count & 255]);
    message.set(payload, HEADER_BYTES);
    return setPayloadLength(message, payload.length);
  });

/** A header whose payload length says more (or less) than the message holds, up to u32 max. */
const lyingLength = fc
  .record({ type: u8, length: u32, payload: fc.uint8Array({ maxLength: 40 }) })
  .map(({ type, length, payload }) => {
    const message = new Uint8Array(HEADER_BYTES + payload.length);
    message[0] = type;
    message.set(payload, HEADER_BYTES);
    return setPayloadLength(message, length);
  });

/** A sane header (type 0..9, length right) over a random payload. */
const randomPayload = fc
  .record({
    type: fc.integer({ min: 0, max: 9 }),
    count: fc.oneof(fc.constant(0), u16),
    payload: fc.uint8Array({ maxLength: 200 }),
  })
  .map(({ type, count, payload }) => {
    const message = new Uint8Array(HEADER_BYTES + payload.length);
    message.set([type, 0, count >> 8, count & 255]);
    message.set(payload, HEADER_BYTES);
    return setPayloadLength(message, payload.length);
  });

/** One message past the frame limit (shared: decoders only read it). */
const HUGE = new Uint8Array(MAX_FRAME_BYTES + 1);
HUGE[0] = FrameType.DATA;
setPayloadLength(HUGE, HUGE.length - HEADER_BYTES);

/** A hostile binary message. */
export const hostileBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: 48 }) },
  {
    weight: 16,
    arbitrary: fc
      .tuple(validFrame, fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.boolean())
      .map(([f, ms, fix]) => mutate(encodeFrame(f), ms, fix)),
  },
  { weight: 8, arbitrary: validFrame.map((f) => encodeFrame(f)) },
  { weight: 8, arbitrary: randomPayload },
  { weight: 8, arbitrary: lyingBatch },
  { weight: 4, arbitrary: lyingLength },
  { weight: 1, arbitrary: fc.constant(HUGE) },
);

const BASE64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const HUGE_TEXT = "A".repeat(MAX_TEXT_FRAME_CHARS + 4);

/** A hostile text message: base64 of hostile bytes, base64 with bad characters or padding, noise. */
export const hostileText: fc.Arbitrary<string> = fc.oneof(
  { weight: 40, arbitrary: hostileBytes.filter((b) => b !== HUGE).map((bytes) => toText(bytes)) },
  {
    weight: 30,
    arbitrary: fc
      .tuple(
        hostileBytes.filter((b) => b !== HUGE).map((bytes) => toText(bytes)),
        fc.nat(),
        fc.constantFrom("=", "==", "-", "_", " ", "\n", "é", "\u0000", "A", "\ud800", "ÿ"),
        fc.boolean(),
      )
      .map(([text, at, char, replace]) => {
        const i = text.length ? at % text.length : 0;
        return replace
          ? text.slice(0, i) + char + text.slice(i + 1)
          : text.slice(0, i) + char + text.slice(i);
      }),
  },
  {
    weight: 20,
    arbitrary: fc.string({ unit: fc.constantFrom(...BASE64_CHARS, "="), maxLength: 40 }),
  },
  { weight: 10, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constant(HUGE_TEXT) },
);

/**
 * A message of `pool` with one to three bytes flipped, set, cut off or appended, and its frame
 * header's length field (bytes 4-7) made to agree again or not: what a relay that tampers sends.
 */
export function editedMessage(pool: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc
    .record({
      index: fc.nat({ max: pool.length - 1 }),
      edits: fc.array(
        fc.oneof(
          fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
          fc.record({ kind: fc.constant("set" as const), at: fc.nat(), byte: fc.nat({ max: 255 }) }),
          fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
          fc.record({
            kind: fc.constant("extend" as const),
            tail: fc.uint8Array({ minLength: 1, maxLength: 20 }),
          }),
        ),
        { minLength: 1, maxLength: 3 },
      ),
      fixLength: fc.boolean(),
    })
    .map(({ index, edits, fixLength }) => {
      let bytes = Buffer.from(pool[index]!);
      for (const edit of edits) {
        if (bytes.length === 0) break;
        if (edit.kind === "flip") bytes[edit.at % bytes.length]! ^= 1 << edit.bit;
        else if (edit.kind === "set") bytes[edit.at % bytes.length] = edit.byte;
        else if (edit.kind === "cut") bytes = bytes.subarray(0, edit.at % (bytes.length + 1));
        else bytes = Buffer.concat([bytes, edit.tail]);
      }
      if (fixLength && bytes.length >= 8) bytes.writeUInt32BE(bytes.length - 8, 4);
      return new Uint8Array(bytes);
    });
}
