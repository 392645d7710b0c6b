// Explicit Congestion Notification at the flow queues (RFC 3168, as fq_codel does by default):
// when CoDel would drop a packet of a flow that said it understands ECN (ECT(0) or ECT(1) in its
// IP header), the packet is marked Congestion Experienced and sent instead. The inner TCP slows
// down as for a loss, and retransmits nothing. A super-packet slot is marked in its one header,
// so every segment a split gives carries CE: a classic ECN sender reduces once per window however
// many marks it sees.
//
//   IPv4: byte 1 (DSCP | ECN), the header checksum updated incrementally (RFC 1624, eqn. 3), so a
//         header that was wrong stays wrong rather than being made right here.
//   IPv6: the ECN bits are bits 4-5 of byte 1 (the traffic class spans bytes 0-1); no checksum.
//   TCP/UDP checksums do not cover either (the pseudo-header has no traffic class).
//
// Pure: no Node APIs; the packet is changed in place.

import { fold, getU16, putU16 } from "../tun/gso-checksum.js";
import { SUPER_PACKET_MARK, SUPER_PACKET_PREFIX_BYTES } from "./super-packet.js";

/** The ECN field's values (RFC 3168 section 5). */
export const Ecn = { NOT_ECT: 0b00, ECT1: 0b01, ECT0: 0b10, CE: 0b11 } as const;

const IPV4_MIN_HEADER = 20;
const IPV6_HEADER = 40;

/** The ECN field of an IP packet or of a super-packet slot's header; undefined if not IP. */
export function ecnOf(slot: Uint8Array): number | undefined {
  const packet = ipOf(slot);
  if (!packet) return undefined;
  return packet[0]! >> 4 === 4 ? packet[1]! & 0b11 : (packet[1]! >> 4) & 0b11;
}

/**
 * Marks an ECN-capable packet (or a super-packet slot: its one header) Congestion Experienced, in
 * place. Returns false, changing nothing, for a packet that is not ECN-capable (Not-ECT) or not IP:
 * that one has to be dropped instead. One already marked CE stays so and counts as marked.
 */
export function markCongestion(slot: Uint8Array): boolean {
  const packet = ipOf(slot);
  if (!packet) return false;
  if (packet[0]! >> 4 === 4) {
    const ecn = packet[1]! & 0b11;
    if (ecn === Ecn.NOT_ECT) return false;
    if (ecn === Ecn.CE) return true;
    const before = getU16(packet, 0);
    const after = before | Ecn.CE;
    packet[1] = packet[1]! | Ecn.CE;
    // HC' = ~(~HC + ~m + m'): the 16-bit word holding version, IHL and DSCP/ECN changed.
    const sum = (~getU16(packet, 10) & 0xffff) + (~before & 0xffff) + after;
    putU16(packet, 10, ~fold(sum) & 0xffff);
    return true;
  }
  const ecn = (packet[1]! >> 4) & 0b11;
  if (ecn === Ecn.NOT_ECT) return false;
  packet[1] = packet[1]! | (Ecn.CE << 4);
  return true;
}

/** The IP packet in `slot` (past a super-packet's prefix), if it has a whole IPv4 or IPv6 header. */
function ipOf(slot: Uint8Array): Uint8Array | undefined {
  const packet =
    slot.length > 0 && slot[0] === SUPER_PACKET_MARK ? slot.subarray(SUPER_PACKET_PREFIX_BYTES) : slot;
  if (packet.length === 0) return undefined;
  const version = packet[0]! >> 4;
  if (version === 4) {
    const header = (packet[0]! & 0x0f) * 4;
    return header >= IPV4_MIN_HEADER && packet.length >= header ? packet : undefined;
  }
  return version === 6 && packet.length >= IPV6_HEADER ? packet : undefined;
}
