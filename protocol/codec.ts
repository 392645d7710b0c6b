// Protocol v1 on the wire. This one file holds the whole binary format: the header, the layout of
// every frame beside its encoder and decoder, and every check a decoder makes. It is isomorphic
// (Uint8Array, DataView, TextEncoder/TextDecoder only) because the phone's page bundles it too.
//
// Versions, one line each (the handshake picks one; the codec only checks versionMin <= versionMax):
//   v1: CHALLENGE/HELLO/WELCOME handshake, DATA batches, PING/PONG over three hops, CLOSE.
//
// Protocol flow (laptop <-> phone <-> exit; the phone relays whole frames between its two sockets):
//   1. exit -> laptop  CHALLENGE  the versions the exit speaks and a fresh nonce.
//   2. laptop -> exit  HELLO      the laptop's versions, its client id, mac = HMAC-SHA256(client key,
//                                 authMessage(nonce, clientId)), and a resume token when resuming.
//   3. exit -> laptop  WELCOME    the chosen version, session, address, MTU, DNS, keepalive;
//                      or CLOSE   an error code from errors.ts and a reason for the log.
//   4. both ways       DATA       batches of IP packets; PING/PONG on any hop; CLOSE to end.
//
// Header, every frame, 8 bytes, integers big-endian:
//   type u8 | flags u8 | count u16 | payloadLength u32 | payload[payloadLength]
//   flags: 0 in v1; unknown bits are ignored on decode.
//   count: number of packets for DATA; 0 for every other type.
//
// Decoder checks, in this order, so no byte of a payload is looked at before its header is sane:
//   1. message longer than MAX_FRAME_BYTES          -> FRAME_TOO_LARGE
//   2. message shorter than the header              -> TRUNCATED
//   3. payloadLength != message length - 8          -> LENGTH_MISMATCH
//   4. unknown type                                 -> undefined (receivers skip it)
//   5. count != 0 on a non-DATA frame               -> BAD_FIELD
//      count 0 / over MAX_PACKETS_PER_FRAME on DATA -> BAD_FIELD / TOO_MANY_PACKETS (before walking)
//   6. the payload, field by field: a fixed-size payload of the wrong size -> LENGTH_MISMATCH; a
//      field running past the end -> TRUNCATED; bytes left after the last field -> LENGTH_MISMATCH;
//      a value the protocol does not allow -> BAD_FIELD.
// decodeFrame throws nothing but ProtocolError, whatever the input.

import { ProtocolError } from "./errors.js";
import {
  type ChallengeFrame,
  type CloseFrame,
  type DataFrame,
  type Frame,
  FrameType,
  type HelloFrame,
  type Hop,
  type PingFrame,
  type PongFrame,
  type WelcomeFrame,
} from "./frames.js";
import { formatIpv6, tryParseIpv4, tryParseIpv6 } from "./ip.js";
import {
  HEADER_BYTES,
  MAC_BYTES,
  MAX_CLIENT_ID_BYTES,
  MAX_DNS_SERVERS,
  MAX_FRAME_BYTES,
  MAX_PACKET_BYTES,
  MAX_PACKETS_PER_FRAME,
  MAX_REASON_BYTES,
  NONCE_BYTES,
  RESUME_TOKEN_BYTES,
  SESSION_ID_BYTES,
} from "./limits.js";

/** Smallest MTU a WELCOME may announce: the IPv4 minimum every host must accept (RFC 791). */
export const MIN_MTU = 576;

/** Highest hop value in v1 (Hop.EXIT_LEG). */
const MAX_HOP = 2;

/** WELCOME flags bit 0: the session was resumed. */
const WELCOME_RESUMED = 0x01;
/** WELCOME flags bit 1: the IPv6 block follows the IPv4 DNS servers. */
const WELCOME_IPV6 = 0x02;
/** WELCOME flags bit 2: the exit sends and takes super-packets (protocol/super-packet.ts). */
const WELCOME_SUPER_PACKETS = 0x04;
/** Smallest MTU a WELCOME with IPv6 may announce: the IPv6 minimum link MTU (RFC 8200). */
export const MIN_MTU_IPV6 = 1280;

/** Domain separation for the HELLO mac: a mac made for another purpose never verifies here. */
const AUTH_LABEL = "tether-v1-hello";

const utf8Encoder = new TextEncoder();
// fatal: invalid UTF-8 is an error, not U+FFFD. ignoreBOM: a leading U+FEFF is data, kept as is.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

// ---------------------------------------------------------------------------------------------
// Header

/** The type byte of a message without decoding it; undefined when shorter than a header. */
export function frameType(message: Uint8Array): number | undefined {
  return message.length < HEADER_BYTES ? undefined : message[0];
}

/** The hop byte of a PING or PONG without decoding it; undefined for anything else. */
export function pingHop(message: Uint8Array): number | undefined {
  if (message.length < HEADER_BYTES + 1) return undefined;
  const type = message[0];
  if (type !== FrameType.PING && type !== FrameType.PONG) return undefined;
  return message[HEADER_BYTES];
}

/** Builds a frame: the header written, the payload left to the caller. */
class Writer {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  private pos = HEADER_BYTES;

  constructor(type: number, count: number, payloadBytes: number) {
    const total = HEADER_BYTES + payloadBytes;
    if (total > MAX_FRAME_BYTES) throw new ProtocolError("FRAME_TOO_LARGE", `${total} bytes`);
    this.bytes = new Uint8Array(total);
    this.view = new DataView(this.bytes.buffer);
    this.view.setUint8(0, type);
    this.view.setUint8(1, 0);
    this.view.setUint16(2, count);
    this.view.setUint32(4, payloadBytes);
  }

  u8(value: number): void {
    this.view.setUint8(this.pos, value);
    this.pos += 1;
  }

  u16(value: number): void {
    this.view.setUint16(this.pos, value);
    this.pos += 2;
  }

  u32(value: number): void {
    this.view.setUint32(this.pos, value);
    this.pos += 4;
  }

  f64(value: number): void {
    this.view.setFloat64(this.pos, value);
    this.pos += 8;
  }

  raw(value: Uint8Array): void {
    this.bytes.set(value, this.pos);
    this.pos += value.length;
  }
}

/** Walks a payload whose header has been checked; every read is bounds-checked first. */
class Reader {
  private pos = HEADER_BYTES;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly view: DataView,
  ) {}

  private take(n: number, what: string): number {
    const at = this.pos;
    if (at + n > this.bytes.length) throw new ProtocolError("TRUNCATED", `${what} runs past the end`);
    this.pos = at + n;
    return at;
  }

  u8(what: string): number {
    return this.view.getUint8(this.take(1, what));
  }

  u16(what: string): number {
    return this.view.getUint16(this.take(2, what));
  }

  u32(what: string): number {
    return this.view.getUint32(this.take(4, what));
  }

  f64(what: string): number {
    return this.view.getFloat64(this.take(8, what));
  }

  /** A view into the message. */
  span(n: number, what: string): Uint8Array {
    const at = this.take(n, what);
    return this.bytes.subarray(at, at + n);
  }

  /** A copy, for fields kept after the message is gone (tokens, ids). */
  copy(n: number, what: string): Uint8Array {
    return new Uint8Array(this.span(n, what));
  }

  ipv4(what: string): string {
    return bytesToIpv4(this.bytes, this.take(4, what));
  }

  ipv6(what: string): string {
    return formatIpv6(this.span(16, what));
  }

  end(frame: string): void {
    const left = this.bytes.length - this.pos;
    if (left !== 0)
      throw new ProtocolError("LENGTH_MISMATCH", `${left} bytes after the last field of ${frame}`);
  }
}

/** The whole binary form of a frame. Throws ProtocolError (BAD_FIELD, ...) for a value the wire cannot carry. */
export function encodeFrame(frame: Frame): Uint8Array {
  switch (frame.type) {
    case FrameType.CHALLENGE:
      return encodeChallenge(frame);
    case FrameType.HELLO:
      return encodeHello(frame);
    case FrameType.WELCOME:
      return encodeWelcome(frame);
    case FrameType.DATA:
      return encodeData(frame.packets);
    case FrameType.PING:
    case FrameType.PONG:
      return encodePing(frame);
    case FrameType.CLOSE:
      return encodeClose(frame);
    default:
      throw new ProtocolError("BAD_FIELD", `unknown frame type ${String((frame as { type: unknown }).type)}`);
  }
}

/**
 * The frame in a message, or undefined for a frame type this version does not know (skip it).
 * Throws ProtocolError, and nothing else, for any malformed input. DATA packets are views into
 * `message`; the handshake's byte fields are copies.
 */
export function decodeFrame(message: Uint8Array): Frame | undefined {
  if (message.length > MAX_FRAME_BYTES) {
    throw new ProtocolError("FRAME_TOO_LARGE", `${message.length} bytes`);
  }
  if (message.length < HEADER_BYTES) {
    throw new ProtocolError("TRUNCATED", `${message.length} bytes, header needs ${HEADER_BYTES}`);
  }
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const type = view.getUint8(0);
  // Byte 1, flags: no bit is defined in v1 and unknown bits are ignored.
  const count = view.getUint16(2);
  const payloadLength = view.getUint32(4);
  if (payloadLength !== message.length - HEADER_BYTES) {
    throw new ProtocolError(
      "LENGTH_MISMATCH",
      `header says ${payloadLength} payload bytes, message has ${message.length - HEADER_BYTES}`,
    );
  }
  if (type === FrameType.DATA) return decodeData(message, count);
  if (type < FrameType.CHALLENGE || type > FrameType.CLOSE) return undefined;
  if (count !== 0) throw new ProtocolError("BAD_FIELD", `count ${count} on a frame of type ${type}`);
  const reader = new Reader(message, view);
  switch (type) {
    case FrameType.CHALLENGE:
      return decodeChallenge(message, reader);
    case FrameType.HELLO:
      return decodeHello(reader);
    case FrameType.WELCOME:
      return decodeWelcome(reader);
    case FrameType.PING:
    case FrameType.PONG:
      return decodePing(type, message, reader);
    default:
      return decodeClose(message, reader);
  }
}

// ---------------------------------------------------------------------------------------------
// CHALLENGE, exit -> laptop, fixed size:
//   versionMin u8 | versionMax u8 | nonce[NONCE_BYTES]

const CHALLENGE_BYTES = 2 + NONCE_BYTES;

function encodeChallenge(frame: ChallengeFrame): Uint8Array {
  checkVersions(frame.versionMin, frame.versionMax);
  checkBytes("nonce", frame.nonce, NONCE_BYTES);
  const w = new Writer(FrameType.CHALLENGE, 0, CHALLENGE_BYTES);
  w.u8(frame.versionMin);
  w.u8(frame.versionMax);
  w.raw(frame.nonce);
  return w.bytes;
}

function decodeChallenge(message: Uint8Array, r: Reader): ChallengeFrame {
  checkFixedSize("CHALLENGE", message, CHALLENGE_BYTES);
  const versionMin = r.u8("versionMin");
  const versionMax = r.u8("versionMax");
  checkVersions(versionMin, versionMax);
  const nonce = r.copy(NONCE_BYTES, "nonce");
  return { type: FrameType.CHALLENGE, versionMin, versionMax, nonce };
}

// ---------------------------------------------------------------------------------------------
// HELLO, laptop -> exit:
//   versionMin u8 | versionMax u8 | capabilities u32
//   | clientIdLen u8 (1..MAX_CLIENT_ID_BYTES) | clientId[clientIdLen] (UTF-8)
//   | mac[MAC_BYTES]
//   | resumeLen u8 (0 or RESUME_TOKEN_BYTES) | resumeToken[resumeLen]

function encodeHello(frame: HelloFrame): Uint8Array {
  checkVersions(frame.versionMin, frame.versionMax);
  checkUint("capabilities", frame.capabilities, 0xffff_ffff);
  const clientId = encodeUtf8("clientId", frame.clientId, 1, MAX_CLIENT_ID_BYTES);
  checkBytes("mac", frame.mac, MAC_BYTES);
  const resume = frame.resumeToken;
  if (resume !== undefined) checkBytes("resumeToken", resume, RESUME_TOKEN_BYTES);
  const resumeLen = resume?.length ?? 0;
  const w = new Writer(FrameType.HELLO, 0, 2 + 4 + 1 + clientId.length + MAC_BYTES + 1 + resumeLen);
  w.u8(frame.versionMin);
  w.u8(frame.versionMax);
  w.u32(frame.capabilities);
  w.u8(clientId.length);
  w.raw(clientId);
  w.raw(frame.mac);
  w.u8(resumeLen);
  if (resume !== undefined) w.raw(resume);
  return w.bytes;
}

function decodeHello(r: Reader): HelloFrame {
  const versionMin = r.u8("versionMin");
  const versionMax = r.u8("versionMax");
  checkVersions(versionMin, versionMax);
  const capabilities = r.u32("capabilities");
  const idLen = r.u8("clientIdLen");
  if (idLen < 1 || idLen > MAX_CLIENT_ID_BYTES) {
    throw new ProtocolError("BAD_FIELD", `clientIdLen ${idLen}, allowed 1..${MAX_CLIENT_ID_BYTES}`);
  }
  const clientId = decodeUtf8("clientId", r.span(idLen, "clientId"));
  const mac = r.copy(MAC_BYTES, "mac");
  const resumeLen = r.u8("resumeLen");
  if (resumeLen !== 0 && resumeLen !== RESUME_TOKEN_BYTES) {
    throw new ProtocolError("BAD_FIELD", `resumeLen ${resumeLen}, allowed 0 or ${RESUME_TOKEN_BYTES}`);
  }
  const frame: HelloFrame = { type: FrameType.HELLO, versionMin, versionMax, capabilities, clientId, mac };
  if (resumeLen !== 0) frame.resumeToken = r.copy(resumeLen, "resumeToken");
  r.end("HELLO");
  return frame;
}

/** The bytes a HELLO's mac signs: ASCII "tether-v1-hello" | nonce[NONCE_BYTES] | clientId (UTF-8). */
export function authMessage(nonce: Uint8Array, clientId: string): Uint8Array {
  checkBytes("nonce", nonce, NONCE_BYTES);
  const id = encodeUtf8("clientId", clientId, 1, MAX_CLIENT_ID_BYTES);
  const out = new Uint8Array(AUTH_LABEL.length + NONCE_BYTES + id.length);
  utf8Encoder.encodeInto(AUTH_LABEL, out);
  out.set(nonce, AUTH_LABEL.length);
  out.set(id, AUTH_LABEL.length + NONCE_BYTES);
  return out;
}

// ---------------------------------------------------------------------------------------------
// WELCOME, exit -> laptop:
//   version u8 | flags u8 (bit 0: resumed; bit 1: IPv6 block; bit 2: super-packets; others ignored)
//   | sessionId[SESSION_ID_BYTES] | resumeToken[RESUME_TOKEN_BYTES]
//   | address[4] (IPv4) | prefixLength u8 (1..32) | mtu u16 (MIN_MTU..65535)
//   | keepaliveSeconds u16 | dnsCount u8 (0..MAX_DNS_SERVERS) | dns[4 * dnsCount] (IPv4 each)
//   then, only with flags bit 1 (sent only to a laptop whose HELLO had Capability.IPV6):
//   | address6[16] | prefixLength6 u8 (1..128) | dns6Count u8 (0..MAX_DNS_SERVERS)
//   | dns6[16 * dns6Count]                                   (and mtu >= MIN_MTU_IPV6)

const WELCOME_FIXED_BYTES = 2 + SESSION_ID_BYTES + RESUME_TOKEN_BYTES + 4 + 1 + 2 + 2 + 1;
const WELCOME_IPV6_FIXED_BYTES = 16 + 1 + 1;

function encodeWelcome(frame: WelcomeFrame): Uint8Array {
  checkUint("version", frame.version, 0xff);
  checkBytes("sessionId", frame.sessionId, SESSION_ID_BYTES);
  checkBytes("resumeToken", frame.resumeToken, RESUME_TOKEN_BYTES);
  const address = ipv4ToBytes(frame.address);
  checkPrefixLength(frame.prefixLength);
  checkMtu(frame.mtu);
  checkUint("keepaliveSeconds", frame.keepaliveSeconds, 0xffff);
  checkDnsCount(frame.dns.length);
  const dns = frame.dns.map(ipv4ToBytes);
  const { ipv6 } = frame;
  let address6: Uint8Array | undefined;
  let dns6: Uint8Array[] = [];
  if (ipv6) {
    address6 = ipv6ToBytes(ipv6.address);
    checkPrefixLength6(ipv6.prefixLength);
    checkMtu6(frame.mtu);
    checkDnsCount(ipv6.dns.length);
    dns6 = ipv6.dns.map(ipv6ToBytes);
  }
  const ipv6Bytes = address6 ? WELCOME_IPV6_FIXED_BYTES + 16 * dns6.length : 0;
  const w = new Writer(FrameType.WELCOME, 0, WELCOME_FIXED_BYTES + 4 * dns.length + ipv6Bytes);
  w.u8(frame.version);
  w.u8(
    (frame.resumed ? WELCOME_RESUMED : 0) |
      (address6 ? WELCOME_IPV6 : 0) |
      (frame.superPackets ? WELCOME_SUPER_PACKETS : 0),
  );
  w.raw(frame.sessionId);
  w.raw(frame.resumeToken);
  w.raw(address);
  w.u8(frame.prefixLength);
  w.u16(frame.mtu);
  w.u16(frame.keepaliveSeconds);
  w.u8(dns.length);
  for (const server of dns) w.raw(server);
  if (address6 && ipv6) {
    w.raw(address6);
    w.u8(ipv6.prefixLength);
    w.u8(dns6.length);
    for (const server of dns6) w.raw(server);
  }
  return w.bytes;
}

function decodeWelcome(r: Reader): WelcomeFrame {
  const version = r.u8("version");
  const flags = r.u8("flags");
  const sessionId = r.copy(SESSION_ID_BYTES, "sessionId");
  const resumeToken = r.copy(RESUME_TOKEN_BYTES, "resumeToken");
  const address = r.ipv4("address");
  const prefixLength = r.u8("prefixLength");
  checkPrefixLength(prefixLength);
  const mtu = r.u16("mtu");
  checkMtu(mtu);
  const keepaliveSeconds = r.u16("keepaliveSeconds");
  const dnsCount = r.u8("dnsCount");
  checkDnsCount(dnsCount);
  const dns: string[] = [];
  for (let i = 0; i < dnsCount; i++) dns.push(r.ipv4("dns"));
  const welcome: WelcomeFrame = {
    type: FrameType.WELCOME,
    version,
    sessionId,
    resumeToken,
    address,
    prefixLength,
    mtu,
    dns,
    keepaliveSeconds,
    resumed: (flags & WELCOME_RESUMED) !== 0,
  };
  if (flags & WELCOME_SUPER_PACKETS) welcome.superPackets = true;
  if (flags & WELCOME_IPV6) {
    const address6 = r.ipv6("address6");
    const prefixLength6 = r.u8("prefixLength6");
    checkPrefixLength6(prefixLength6);
    checkMtu6(mtu);
    const dns6Count = r.u8("dns6Count");
    checkDnsCount(dns6Count);
    const dns6: string[] = [];
    for (let i = 0; i < dns6Count; i++) dns6.push(r.ipv6("dns6"));
    welcome.ipv6 = { address: address6, prefixLength: prefixLength6, dns: dns6 };
  }
  r.end("WELCOME");
  return welcome;
}

// ---------------------------------------------------------------------------------------------
// DATA, both ways; header count = N packets (1..MAX_PACKETS_PER_FRAME):
//   N x ( len u16 (1..MAX_PACKET_BYTES) | packet[len] )
// The lengths add up to payloadLength exactly. This is the hot path: one allocation to encode,
// none but the result array to decode (packets are views into the message).

/** Bytes an encoded DATA frame would take: for batching decisions before encoding. */
export function dataFrameBytes(packetBytes: number, packetCount: number): number {
  return HEADER_BYTES + 2 * packetCount + packetBytes;
}

/** One DATA frame carrying `packets`, in one allocation of the exact size. */
export function encodeData(packets: readonly Uint8Array[]): Uint8Array {
  const count = packets.length;
  if (count > MAX_PACKETS_PER_FRAME) {
    throw new ProtocolError("TOO_MANY_PACKETS", `${count} packets, limit ${MAX_PACKETS_PER_FRAME}`);
  }
  if (count === 0) throw new ProtocolError("BAD_FIELD", "DATA with no packets");
  let packetBytes = 0;
  for (const packet of packets) {
    const len = packet.length;
    if (len > MAX_PACKET_BYTES) {
      throw new ProtocolError("PACKET_TOO_LARGE", `${len} bytes, limit ${MAX_PACKET_BYTES}`);
    }
    if (len === 0) throw new ProtocolError("BAD_FIELD", "empty packet");
    packetBytes += len;
  }
  const total = dataFrameBytes(packetBytes, count);
  if (total > MAX_FRAME_BYTES) throw new ProtocolError("FRAME_TOO_LARGE", `${total} bytes`);
  const out = new Uint8Array(total);
  const payloadLength = total - HEADER_BYTES;
  out[0] = FrameType.DATA;
  out[2] = count >>> 8;
  out[3] = count & 0xff;
  out[4] = payloadLength >>> 24;
  out[5] = (payloadLength >>> 16) & 0xff;
  out[6] = (payloadLength >>> 8) & 0xff;
  out[7] = payloadLength & 0xff;
  let pos = HEADER_BYTES;
  for (const packet of packets) {
    const len = packet.length;
    out[pos] = len >>> 8;
    out[pos + 1] = len & 0xff;
    out.set(packet, pos + 2);
    pos += 2 + len;
  }
  return out;
}

function decodeData(message: Uint8Array, count: number): DataFrame {
  // The count is checked here, at the header, before a single packet is walked.
  if (count > MAX_PACKETS_PER_FRAME) {
    throw new ProtocolError("TOO_MANY_PACKETS", `${count} packets, limit ${MAX_PACKETS_PER_FRAME}`);
  }
  if (count === 0) throw new ProtocolError("BAD_FIELD", "DATA with no packets");
  const end = message.length;
  const packets: Uint8Array[] = [];
  let pos = HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (pos + 2 > end) throw new ProtocolError("TRUNCATED", `length of packet ${i} runs past the end`);
    const len = (message[pos]! << 8) | message[pos + 1]!;
    if (len === 0) throw new ProtocolError("BAD_FIELD", `packet ${i} is empty`);
    pos += 2;
    if (pos + len > end) throw new ProtocolError("TRUNCATED", `packet ${i} (${len} bytes) runs past the end`);
    packets.push(message.subarray(pos, pos + len));
    pos += len;
  }
  if (pos !== end) throw new ProtocolError("LENGTH_MISMATCH", `${end - pos} bytes after the last packet`);
  return { type: FrameType.DATA, packets };
}

// ---------------------------------------------------------------------------------------------
// PING and PONG, both ways, fixed size; a PONG echoes its PING's three fields:
//   hop u8 (0 end-to-end, 1 laptop leg, 2 exit leg) | id u32 | sentAt f64 (sender's clock, ms)

const PING_BYTES = 1 + 4 + 8;

function encodePing(frame: PingFrame | PongFrame): Uint8Array {
  checkHop(frame.hop);
  checkUint("id", frame.id, 0xffff_ffff);
  if (typeof frame.sentAt !== "number") throw new ProtocolError("BAD_FIELD", "sentAt is not a number");
  const w = new Writer(frame.type, 0, PING_BYTES);
  w.u8(frame.hop);
  w.u32(frame.id);
  w.f64(frame.sentAt);
  return w.bytes;
}

function decodePing(type: number, message: Uint8Array, r: Reader): PingFrame | PongFrame {
  checkFixedSize(type === FrameType.PING ? "PING" : "PONG", message, PING_BYTES);
  const hop = r.u8("hop");
  checkHop(hop);
  const id = r.u32("id");
  const sentAt = r.f64("sentAt");
  return type === FrameType.PING
    ? { type: FrameType.PING, hop: hop as Hop, id, sentAt }
    : { type: FrameType.PONG, hop: hop as Hop, id, sentAt };
}

// ---------------------------------------------------------------------------------------------
// CLOSE, both ways:
//   code u16 (a close code from errors.ts, or any the sender means) | reason (UTF-8, the rest of the
//   payload, 0..MAX_REASON_BYTES)

function encodeClose(frame: CloseFrame): Uint8Array {
  checkUint("code", frame.code, 0xffff);
  const reason = encodeUtf8("reason", frame.reason, 0, MAX_REASON_BYTES);
  const w = new Writer(FrameType.CLOSE, 0, 2 + reason.length);
  w.u16(frame.code);
  w.raw(reason);
  return w.bytes;
}

function decodeClose(message: Uint8Array, r: Reader): CloseFrame {
  const code = r.u16("code");
  const rest = message.length - HEADER_BYTES - 2;
  if (rest > MAX_REASON_BYTES) {
    throw new ProtocolError("BAD_FIELD", `reason of ${rest} bytes, limit ${MAX_REASON_BYTES}`);
  }
  const reason = decodeUtf8("reason", r.span(rest, "reason"));
  return { type: FrameType.CLOSE, code, reason };
}

/**
 * A sentence made fit for a CLOSE frame: lone surrogates replaced by U+FFFD and the UTF-8 cut at a
 * character boundary to MAX_REASON_BYTES. encodeFrame rejects a reason that does not fit.
 */
export function fitReason(reason: string): string {
  const bytes = utf8Encoder.encode(reason); // lone surrogates become U+FFFD here
  if (bytes.length <= MAX_REASON_BYTES) return utf8Decoder.decode(bytes);
  let end = MAX_REASON_BYTES;
  while ((bytes[end]! & 0xc0) === 0x80) end--; // back off a continuation byte to a character start
  return utf8Decoder.decode(bytes.subarray(0, end));
}

// ---------------------------------------------------------------------------------------------
// IPv4 addresses: 4 bytes on the wire, a dotted string in a frame value.

/** The 4 bytes of a dotted IPv4 address ("10.64.0.2"), read as protocol/ip.ts reads addresses. */
export function ipv4ToBytes(s: string): Uint8Array {
  const value = tryParseIpv4(s);
  if (value === undefined) throw new ProtocolError("BAD_FIELD", `not an IPv4 address: ${String(s)}`);
  return Uint8Array.of(value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255);
}

/** The 16 bytes of an IPv6 address, read as protocol/ip.ts reads addresses (IPv4 text refused). */
export function ipv6ToBytes(s: string): Uint8Array {
  const bytes = typeof s === "string" ? tryParseIpv6(s) : undefined;
  if (bytes === undefined) throw new ProtocolError("BAD_FIELD", `not an IPv6 address: ${String(s)}`);
  return bytes;
}

/** The dotted form of the 4 bytes at `offset`. */
export function bytesToIpv4(b: Uint8Array, offset = 0): string {
  if (!Number.isInteger(offset) || offset < 0 || offset + 4 > b.length) {
    throw new ProtocolError("TRUNCATED", `IPv4 address at ${offset} runs past the end`);
  }
  return `${b[offset]}.${b[offset + 1]}.${b[offset + 2]}.${b[offset + 3]}`;
}

// ---------------------------------------------------------------------------------------------
// Field checks, shared by encoders (a frame the wire cannot carry) and decoders (a hostile peer).

function checkUint(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new ProtocolError("BAD_FIELD", `${name} ${value}, allowed 0..${max}`);
  }
}

function checkVersions(min: number, max: number): void {
  checkUint("versionMin", min, 0xff);
  checkUint("versionMax", max, 0xff);
  if (min > max) throw new ProtocolError("BAD_FIELD", `versionMin ${min} > versionMax ${max}`);
}

function checkBytes(name: string, value: Uint8Array, length: number): void {
  if (!(value instanceof Uint8Array) || value.length !== length) {
    throw new ProtocolError("BAD_FIELD", `${name} must be ${length} bytes`);
  }
}

function checkFixedSize(frame: string, message: Uint8Array, payloadBytes: number): void {
  const got = message.length - HEADER_BYTES;
  if (got !== payloadBytes) {
    throw new ProtocolError("LENGTH_MISMATCH", `${frame} payload of ${got} bytes, must be ${payloadBytes}`);
  }
}

function checkPrefixLength(value: number): void {
  if (!Number.isInteger(value) || value < 1 || value > 32) {
    throw new ProtocolError("BAD_FIELD", `prefixLength ${value}, allowed 1..32`);
  }
}

function checkMtu(value: number): void {
  if (!Number.isInteger(value) || value < MIN_MTU || value > 0xffff) {
    throw new ProtocolError("BAD_FIELD", `mtu ${value}, allowed ${MIN_MTU}..65535`);
  }
}

function checkPrefixLength6(value: number): void {
  if (!Number.isInteger(value) || value < 1 || value > 128) {
    throw new ProtocolError("BAD_FIELD", `prefixLength6 ${value}, allowed 1..128`);
  }
}

/** A tunnel that carries IPv6 must carry 1280-byte packets whole: IPv6 routers never fragment. */
function checkMtu6(value: number): void {
  if (value < MIN_MTU_IPV6) {
    throw new ProtocolError("BAD_FIELD", `mtu ${value} with IPv6, allowed ${MIN_MTU_IPV6}..65535`);
  }
}

function checkDnsCount(value: number): void {
  if (value > MAX_DNS_SERVERS) {
    throw new ProtocolError("BAD_FIELD", `${value} DNS servers, limit ${MAX_DNS_SERVERS}`);
  }
}

function checkHop(value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > MAX_HOP) {
    throw new ProtocolError("BAD_FIELD", `hop ${value}, allowed 0..${MAX_HOP}`);
  }
}

// A lone surrogate has no UTF-8 form; TextEncoder would silently send U+FFFD instead.
const LONE_SURROGATE = /\p{Cs}/u;

function encodeUtf8(name: string, value: string, minBytes: number, maxBytes: number): Uint8Array {
  if (typeof value !== "string" || LONE_SURROGATE.test(value)) {
    throw new ProtocolError("BAD_FIELD", `${name} is not a well-formed string`);
  }
  const bytes = utf8Encoder.encode(value);
  if (bytes.length < minBytes || bytes.length > maxBytes) {
    throw new ProtocolError(
      "BAD_FIELD",
      `${name} of ${bytes.length} UTF-8 bytes, allowed ${minBytes}..${maxBytes}`,
    );
  }
  return bytes;
}

function decodeUtf8(name: string, bytes: Uint8Array): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    throw new ProtocolError("BAD_FIELD", `${name} is not valid UTF-8`);
  }
}
