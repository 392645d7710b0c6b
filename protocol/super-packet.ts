// A super-packet as it rides in a DATA frame between two ends that both asked for them
// (CAP_SUPER_PACKETS): one packet slot holding a 4-byte prefix and the IP super-packet (one TCP or
// UDP header, then the payload of segments of `segmentSize` bytes, its checksum partial):
//
//   0xF1 | 0x00 | segmentSize u16 | super-packet
//
// The first nibble, 15, is no IP version, so nothing mistakes the slot for a packet; a peer that
// did not ask for super-packets never gets one. The frame layout (codec.ts) is untouched: DATA
// carries these slots beside ordinary packets, and the relay needs to know nothing of them.

import { Capability } from "./frames.js";

/** The prefix's first byte: IP version nibble 15 (none), kind 1 (a segmented super-packet). */
export const SUPER_PACKET_MARK = 0xf1;

/** Bytes in front of the super-packet. */
export const SUPER_PACKET_PREFIX_BYTES = 4;

/** HELLO capability bit meaning "this end sends and takes super-packets" (WELCOME: `superPackets`). */
export const CAP_SUPER_PACKETS = Capability.SUPER_PACKETS;

/** Largest super-packet carried, bytes: the slot stays within a packet's u16 length. */
export const MAX_CARRIED_SUPER_PACKET_BYTES = 65_535 - SUPER_PACKET_PREFIX_BYTES;

/** The slot for `packet` of `segmentSize`-byte segments (a copy with the prefix in front). */
export function wrapSuperPacket(packet: Uint8Array, segmentSize: number): Uint8Array {
  if (packet.length > MAX_CARRIED_SUPER_PACKET_BYTES || segmentSize < 1 || segmentSize > 0xffff) {
    throw new RangeError(`super-packet of ${packet.length} bytes, segment size ${segmentSize}`);
  }
  const slot = new Uint8Array(SUPER_PACKET_PREFIX_BYTES + packet.length);
  slot[0] = SUPER_PACKET_MARK;
  slot[2] = segmentSize >>> 8;
  slot[3] = segmentSize & 0xff;
  slot.set(packet, SUPER_PACKET_PREFIX_BYTES);
  return slot;
}

/**
 * What a DATA slot holds: an ordinary packet (segmentSize 0, the slot itself), a super-packet
 * (a view past the prefix), or undefined for a prefix that is not one (a malformed slot, to count
 * and drop).
 */
export function unwrapSlot(slot: Uint8Array): { packet: Uint8Array; segmentSize: number } | undefined {
  if (slot.length === 0 || slot[0]! >> 4 !== 0xf) return { packet: slot, segmentSize: 0 };
  if (slot[0] !== SUPER_PACKET_MARK || slot.length <= SUPER_PACKET_PREFIX_BYTES || slot[1] !== 0) {
    return undefined;
  }
  const segmentSize = (slot[2]! << 8) | slot[3]!;
  if (segmentSize === 0) return undefined;
  return { packet: slot.subarray(SUPER_PACKET_PREFIX_BYTES), segmentSize };
}
