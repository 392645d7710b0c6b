// Coalescing (GRO in user space) for a TUN whose kernel takes super-packets: consecutive TCP
// segments of one flow, as a DATA frame brings them, become one super-packet written in one call,
// which the kernel then handles as one (locally: one pass up the TCP stack; forwarded: one pass
// through routing and NAT, segmented by the next device or its driver).
//
// A segment joins its flow's super-packet only if nothing is lost by it: same addresses, ports,
// IP and TCP header fields (bar length, IPv4 id + 1, checksums), identical TCP options, only ACK set
// (PSH may end the super-packet), the next sequence number, a full segment size (a shorter one ends
// it), and checksums that verify: the kernel trusts a super-packet's partial checksum, so a
// corrupted segment must not hide in one. Everything else is written as it came, in order per flow.

import { SUPER_PACKET_MAX_BYTES } from "./device.js";
import { finish, fold, getU16, PROTOCOL_TCP, pseudoHeaderSum, putU16, sumWords } from "./gso-checksum.js";

/** Flows coalesced at once within one batch: more distinct flows pass through as they are. */
export const MAX_OPEN_GROUPS = 8;

const TCP_ACK = 0x10;
const TCP_PSH = 0x08;

interface Group {
  packets: Uint8Array[];
  /** IP header bytes and TCP header bytes of the first packet. */
  ip: number;
  tcp: number;
  segmentSize: number;
  bytes: number;
  nextSeq: number;
  nextId: number;
  /** A segment shorter than segmentSize, or PSH, ended it. */
  closed: boolean;
}

/**
 * Hands `write` the packets of `batch`, coalesced where it can: `write(packet, segmentSize)` with
 * segmentSize 0 for a packet as it came. Per-flow order is kept.
 */
export function coalesce(
  batch: readonly Uint8Array[],
  write: (packet: Uint8Array, segmentSize: number) => void,
  maxBytes = SUPER_PACKET_MAX_BYTES,
): void {
  const open: Group[] = [];
  const flush = (group: Group) => {
    open.splice(open.indexOf(group), 1);
    emit(group, write);
  };
  for (const packet of batch) {
    const shape = tcpShape(packet);
    const group = shape
      ? open.find((candidate) => sameFlow(candidate.packets[0]!, packet, candidate, shape))
      : undefined;
    if (group && !group.closed && canJoin(group, packet, shape!, maxBytes)) {
      join(group, packet, shape!);
      if (group.closed) flush(group);
      continue;
    }
    if (group) flush(group);
    if (!shape || shape.payload === 0 || !checksumsValid(packet, shape)) {
      write(packet, 0);
      continue;
    }
    const flags = packet[shape.ip + 13]!;
    if ((flags & ~TCP_ACK) !== 0 || (flags & TCP_ACK) === 0) {
      write(packet, 0); // PSH, SYN, FIN...: nothing may follow it in a super-packet
      continue;
    }
    if (open.length === MAX_OPEN_GROUPS) flush(open[0]!);
    open.push({
      packets: [packet],
      ip: shape.ip,
      tcp: shape.tcp,
      segmentSize: shape.payload,
      bytes: packet.length,
      nextSeq: (seqOf(packet, shape.ip) + shape.payload) >>> 0,
      nextId: shape.ip === 20 ? (getU16(packet, 4) + 1) & 0xffff : 0,
      closed: false,
    });
  }
  for (const group of open.splice(0)) emit(group, write);
}

interface Shape {
  /** IP header bytes (20 for IPv4 without options, 40 for IPv6). */
  ip: number;
  tcp: number;
  payload: number;
}

/** TCP over IPv4 (no options, not a fragment) or IPv6 (no extension headers), lengths consistent. */
function tcpShape(packet: Uint8Array): Shape | undefined {
  const version = packet.length > 0 ? packet[0]! >> 4 : 0;
  let ip: number;
  if (version === 4) {
    if (packet.length < 40 || packet[0] !== 0x45 || packet[9] !== PROTOCOL_TCP) return undefined;
    if (getU16(packet, 2) !== packet.length || (getU16(packet, 6) & 0x3fff) !== 0) return undefined;
    ip = 20;
  } else if (version === 6) {
    if (packet.length < 60 || packet[6] !== PROTOCOL_TCP || getU16(packet, 4) + 40 !== packet.length) {
      return undefined;
    }
    ip = 40;
  } else {
    return undefined;
  }
  const tcp = (packet[ip + 12]! >> 4) * 4;
  if (tcp < 20 || ip + tcp > packet.length) return undefined;
  return { ip, tcp, payload: packet.length - ip - tcp };
}

/** Same addresses and ports (the flow), and the same IP and TCP header lengths. */
function sameFlow(first: Uint8Array, packet: Uint8Array, group: Group, shape: Shape): boolean {
  if (group.ip !== shape.ip || group.tcp !== shape.tcp) return false;
  const addresses = shape.ip === 20 ? [12, 20] : [8, 40];
  for (let i = addresses[0]!; i < addresses[1]!; i++) if (first[i] !== packet[i]) return false;
  for (let i = shape.ip; i < shape.ip + 4; i++) if (first[i] !== packet[i]) return false;
  return true;
}

function canJoin(group: Group, packet: Uint8Array, shape: Shape, maxBytes: number): boolean {
  const first = group.packets[0]!;
  const ip = shape.ip;
  if (shape.payload === 0 || shape.payload > group.segmentSize) return false;
  if (group.bytes + shape.payload > maxBytes) return false;
  if (seqOf(packet, ip) !== group.nextSeq) return false;
  if (ip === 20) {
    // TOS, flags and fragment offset, TTL, protocol the same; the id the next one.
    if (first[1] !== packet[1] || first[6] !== packet[6] || first[8] !== packet[8]) return false;
    if (getU16(packet, 4) !== group.nextId) return false;
  } else {
    // Traffic class, flow label, hop limit.
    for (const i of [0, 1, 2, 3, 7]) if (first[i] !== packet[i]) return false;
  }
  // Acknowledgment number, header length, window, urgent pointer, options: byte for byte.
  for (let i = ip + 8; i < ip + 13; i++) if (first[i] !== packet[i]) return false;
  for (let i = ip + 14; i < ip + 16; i++) if (first[i] !== packet[i]) return false;
  for (let i = ip + 18; i < ip + shape.tcp; i++) if (first[i] !== packet[i]) return false;
  const flags = packet[ip + 13]!;
  if ((flags & ~(TCP_ACK | TCP_PSH)) !== 0 || (flags & TCP_ACK) === 0) return false;
  return checksumsValid(packet, shape);
}

function join(group: Group, packet: Uint8Array, shape: Shape): void {
  group.packets.push(packet);
  group.bytes += shape.payload;
  group.nextSeq = (group.nextSeq + shape.payload) >>> 0;
  group.nextId = (group.nextId + 1) & 0xffff;
  if (shape.payload < group.segmentSize || (packet[shape.ip + 13]! & TCP_PSH) !== 0) group.closed = true;
}

/** One packet as it came, or the super-packet of the group (headers of the first, PSH of the last). */
function emit(group: Group, write: (packet: Uint8Array, segmentSize: number) => void): void {
  const { packets, ip, tcp, segmentSize } = group;
  if (packets.length === 1) {
    write(packets[0]!, 0);
    return;
  }
  const headers = ip + tcp;
  const out = new Uint8Array(group.bytes);
  out.set(packets[0]!.subarray(0, headers));
  let at = headers;
  for (const packet of packets) {
    out.set(packet.subarray(headers), at);
    at += packet.length - headers;
  }
  if (ip === 20) {
    putU16(out, 2, out.length);
    putU16(out, 10, 0);
    putU16(out, 10, finish(sumWords(out, 0, 20)));
  } else {
    putU16(out, 4, out.length - 40);
  }
  out[ip + 13]! |= packets.at(-1)![ip + 13]! & TCP_PSH;
  // The writer puts the pseudo-header sum here for the kernel (gso-write.ts).
  putU16(out, ip + 16, 0);
  write(out, segmentSize);
}

function seqOf(packet: Uint8Array, ip: number): number {
  return ((packet[ip + 4]! << 24) | (packet[ip + 5]! << 16) | (packet[ip + 6]! << 8) | packet[ip + 7]!) >>> 0;
}

function checksumsValid(packet: Uint8Array, shape: Shape): boolean {
  if (shape.ip === 20 && fold(sumWords(packet, 0, 20)) !== 0xffff) return false;
  const pseudo = pseudoHeaderSum(packet, PROTOCOL_TCP, packet.length - shape.ip);
  return fold(sumWords(packet, shape.ip, packet.length, pseudo)) === 0xffff;
}
