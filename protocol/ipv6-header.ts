// The few IPv6 header fields the tunnel ends route and check packets by (protocol/ip.ts has the
// IPv4 ones). Pure and isomorphic; the addresses are views into the packet, never copies.
//
//   0       4       12      16      24      32
//   | ver 6 | class | flow label             |   bytes 0-3
//   | payload length | next header | hop lim |   bytes 4-7
//   | source address (16 bytes)              |   bytes 8-23
//   | destination address (16 bytes)         |   bytes 24-39

/** The fixed IPv6 header, bytes (extension headers follow it, inside the payload length). */
export const IPV6_HEADER_BYTES = 40;
/** The smallest link MTU IPv6 allows (RFC 8200 section 5): a tunnel must never offer less. */
export const IPV6_MIN_MTU = 1280;
const SOURCE_OFFSET = 8;
const DESTINATION_OFFSET = 24;
const ADDRESS_BYTES = 16;

/** True for a packet long enough to hold an IPv6 header whose version nibble is 6. */
export function isIpv6(packet: Uint8Array): boolean {
  return packet.length >= IPV6_HEADER_BYTES && packet[0]! >> 4 === 6;
}

/** The source address of an IPv6 packet (checked with isIpv6), a view into it. */
export function ipv6Source(packet: Uint8Array): Uint8Array {
  return packet.subarray(SOURCE_OFFSET, SOURCE_OFFSET + ADDRESS_BYTES);
}

/** The destination address of an IPv6 packet (checked with isIpv6), a view into it. */
export function ipv6Destination(packet: Uint8Array): Uint8Array {
  return packet.subarray(DESTINATION_OFFSET, DESTINATION_OFFSET + ADDRESS_BYTES);
}

/** Whether the packet's source is exactly `address` (16 bytes): the spoofing check, no allocation. */
export function ipv6SourceIs(packet: Uint8Array, address: Uint8Array): boolean {
  for (let i = 0; i < ADDRESS_BYTES; i++) if (packet[SOURCE_OFFSET + i] !== address[i]) return false;
  return true;
}

/** Whether the packet's destination is exactly `address` (16 bytes), no allocation. */
export function ipv6DestinationIs(packet: Uint8Array, address: Uint8Array): boolean {
  for (let i = 0; i < ADDRESS_BYTES; i++) if (packet[DESTINATION_OFFSET + i] !== address[i]) return false;
  return true;
}

/** The next-header field: the first extension header's or the upper layer's protocol number. */
export function ipv6NextHeader(packet: Uint8Array): number {
  return packet[6]!;
}
