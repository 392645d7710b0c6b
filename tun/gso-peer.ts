// What a tunnel end hands its send queue from a TUN read in super-packet mode (or a DATA frame's
// super-packets), given what the far end takes: for a peer that negotiated super-packets
// (CAP_SUPER_PACKETS), super-packets as they are, cut at segment boundaries where one would not fit
// a 64 KiB message; for a peer that did not, ordinary packets only, split here in user space with
// their headers and checksums completed (gso-split.ts), as a NIC without TSO would get them.

import { SUPER_PACKET_MAX_BYTES } from "./device.js";
import { capSuperPacket, gsoSplit, superPacketLayout } from "./gso-split.js";

export interface PeerPackets {
  packets: Uint8Array[];
  /** Per packet, 0 or a super-packet's segment size; undefined when all are ordinary. */
  segmentSizes: number[] | undefined;
  /** Super-packets that were malformed (gso-split.ts refused them): dropped. */
  refused: number;
}

/**
 * `packets` (with `segmentSizes`, 0 for an ordinary packet) as the peer takes them. Ordinary
 * packets pass untouched (the same objects); so does everything when no segment size is given.
 */
export function forPeer(
  packets: readonly Uint8Array[],
  segmentSizes: ArrayLike<number> | undefined,
  peerTakesSuperPackets: boolean,
  maxSuperPacketBytes = SUPER_PACKET_MAX_BYTES,
): PeerPackets {
  let anySuper = false;
  if (segmentSizes) {
    for (let i = 0; i < packets.length; i++) {
      if ((segmentSizes[i] ?? 0) > 0) {
        anySuper = true;
        break;
      }
    }
  }
  if (!anySuper) return { packets: packets as Uint8Array[], segmentSizes: undefined, refused: 0 };
  const out: Uint8Array[] = [];
  const sizes: number[] = [];
  let refused = 0;
  for (let i = 0; i < packets.length; i++) {
    const packet = packets[i]!;
    const segmentSize = segmentSizes![i] ?? 0;
    if (segmentSize === 0) {
      out.push(packet);
      sizes.push(0);
    } else if (peerTakesSuperPackets && packet.length <= maxSuperPacketBytes) {
      out.push(packet);
      sizes.push(segmentSize);
    } else if (peerTakesSuperPackets) {
      const pieces = capSuperPacket(packet, segmentSize, maxSuperPacketBytes);
      if (typeof pieces === "string") refused++;
      else
        for (const piece of pieces) {
          out.push(piece.packet);
          sizes.push(piece.segmentSize);
        }
    } else {
      const segments = gsoSplit(packet, segmentSize);
      if (typeof segments === "string") refused++;
      else
        for (const segment of segments) {
          out.push(segment);
          sizes.push(0);
        }
    }
  }
  return { packets: out, segmentSizes: peerTakesSuperPackets ? sizes : undefined, refused };
}

/** IP packets `packets` stand for: a super-packet's segments each (what writePackets counts). */
export function ipPacketCount(packets: readonly Uint8Array[], segmentSizes?: ArrayLike<number>): number {
  if (!segmentSizes) return packets.length;
  let count = 0;
  for (let i = 0; i < packets.length; i++) {
    const segmentSize = segmentSizes[i] ?? 0;
    const layout = segmentSize > 0 ? superPacketLayout(packets[i]!, segmentSize) : undefined;
    count += layout === undefined || typeof layout === "string" ? 1 : layout.segments;
  }
  return count;
}
