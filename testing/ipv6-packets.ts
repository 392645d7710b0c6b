// IPv6 packets built by hand for tests: what a TUN carries with IFF_NO_PI (a bare IPv6 header).
import { parseIpv6 } from "../protocol/ip.js";

export const NEXT_HEADER_TCP = 6;
export const NEXT_HEADER_UDP = 17;
export const NEXT_HEADER_ICMPV6 = 58;

export interface Ipv6PacketFields {
  source: string;
  destination: string;
  /** Default UDP. */
  nextHeader?: number;
  /** The upper-layer bytes after the 40-byte header; the first 4 are ports for TCP/UDP. */
  payload?: Uint8Array;
  /** Default 64. */
  hopLimit?: number;
}

/** An IPv6 packet (no checksums: the tunnel ends and the guard never read them). */
export function buildIpv6(fields: Ipv6PacketFields): Uint8Array {
  const payload = fields.payload ?? new Uint8Array(8);
  const packet = new Uint8Array(40 + payload.length);
  const view = new DataView(packet.buffer);
  view.setUint32(0, 0x6000_0000);
  view.setUint16(4, payload.length);
  view.setUint8(6, fields.nextHeader ?? NEXT_HEADER_UDP);
  view.setUint8(7, fields.hopLimit ?? 64);
  packet.set(parseIpv6(fields.source), 8);
  packet.set(parseIpv6(fields.destination), 24);
  packet.set(payload, 40);
  return packet;
}

/** A UDP (or TCP) header's first four bytes: source and destination port. */
export function ports(source: number, destination: number, bytes = 8): Uint8Array {
  const payload = new Uint8Array(bytes);
  const view = new DataView(payload.buffer);
  view.setUint16(0, source);
  view.setUint16(2, destination);
  return payload;
}
