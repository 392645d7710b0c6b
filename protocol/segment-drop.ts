// Dropping from a queued super-packet one segment at a time (cake's split-gso, done lazily): a
// super-packet slot (super-packet.ts) stands for up to ~45 TCP segments, and dropping the slot
// whole for one CoDel signal cost the inner TCP ~45 retransmissions where one would do. The head
// segments are cut off in place instead, and what is left stays one super-packet, its headers as
// the split of the original would have given its first remaining segment:
//
//   prefix | IP+TCP header | seg 0 | seg 1 | ... | seg n-1      (the slot as queued)
//                   prefix | IP+TCP header' | seg 1 | ... | seg n-1   (a view into the same memory)
//
//   header': IPv4 id + 1, total length, header checksum; IPv6 payload length; TCP seq + segment
//   size, CWR cleared (it rides on the first segment only); UDP length; the partial checksum (the
//   pseudo-header sum) for the new length. FIN and PSH stay: they belong to the last segment.
//
// One segment left: it becomes an ordinary packet with its checksum complete, as capSuperPacket()
// makes pieces of one segment. The layout and checksum helpers are those that split super-packets
// for the TUN (tun/gso-split.ts), so a cut and a split cannot disagree. Pure: no Node APIs.

import {
  finish,
  fold,
  getU16,
  PROTOCOL_TCP,
  pseudoHeaderSum,
  putU16,
  sumWords,
} from "../tun/gso-checksum.js";
import {
  type SuperPacketLayout,
  superPacketLayout,
  TCP_CHECKSUM_OFFSET,
  UDP_CHECKSUM_OFFSET,
} from "../tun/gso-split.js";
import { SUPER_PACKET_PREFIX_BYTES, unwrapSlot } from "./super-packet.js";

const TCP_CWR = 0x80;

/** What a DATA slot stands for on the wire: IP packets (segments) and their bytes once split. */
export interface SlotSize {
  segments: number;
  bytes: number;
}

/**
 * The segments and IP bytes `slot` stands for: an ordinary packet is one; a super-packet is its
 * segments, each with its own headers; a malformed slot counts as one packet of its length.
 */
export function slotSize(slot: Uint8Array): SlotSize {
  const parsed = parseSlot(slot);
  if (!parsed) return { segments: 1, bytes: slot.length };
  const { packet, layout } = parsed;
  return { segments: layout.segments, bytes: packet.length + (layout.segments - 1) * layout.headerBytes };
}

/**
 * Cuts the first `count` segments off the super-packet in `slot`, in place. Returns what is left
 * (a view into the same memory: a super-packet slot, or an ordinary packet if one segment is left)
 * and what was cut, or undefined if `slot` has no more than `count` segments (an ordinary packet,
 * a malformed slot): then the caller drops it whole.
 */
export function dropHeadSegments(
  slot: Uint8Array,
  count: number,
): { rest: Uint8Array; dropped: SlotSize } | undefined {
  const parsed = parseSlot(slot);
  if (!parsed || !Number.isInteger(count) || count < 1) return undefined;
  const { layout } = parsed;
  if (layout.segments <= count) return undefined;
  const { ipHeaderBytes: ip, headerBytes, segmentSize, protocol } = layout;
  const cut = count * segmentSize;
  const v4 = layout.version === 4;
  const firstId = v4 ? getU16(slot, SUPER_PACKET_PREFIX_BYTES + 4) : 0;
  // Prefix and headers move forward over the cut payload (copyWithin copies overlaps correctly).
  slot.copyWithin(cut, 0, SUPER_PACKET_PREFIX_BYTES + headerBytes);
  const segmentsLeft = layout.segments - count;
  const whole = slot.subarray(cut);
  const packet = whole.subarray(SUPER_PACKET_PREFIX_BYTES);
  const length = packet.length;
  if (v4) {
    putU16(packet, 2, length);
    putU16(packet, 4, (firstId + count) & 0xffff);
    putU16(packet, 10, 0);
    putU16(packet, 10, finish(sumWords(packet, 0, ip)));
  } else {
    putU16(packet, 4, length - ip);
  }
  let checksumAt: number;
  if (protocol === PROTOCOL_TCP) {
    const seq =
      ((packet[ip + 4]! << 24) | (packet[ip + 5]! << 16) | (packet[ip + 6]! << 8) | packet[ip + 7]!) >>> 0;
    const next = (seq + cut) >>> 0;
    packet[ip + 4] = next >>> 24;
    packet[ip + 5] = (next >>> 16) & 0xff;
    packet[ip + 6] = (next >>> 8) & 0xff;
    packet[ip + 7] = next & 0xff;
    packet[ip + 13]! &= ~TCP_CWR;
    checksumAt = ip + TCP_CHECKSUM_OFFSET;
  } else {
    putU16(packet, ip + 4, length - ip);
    checksumAt = ip + UDP_CHECKSUM_OFFSET;
  }
  const pseudo = pseudoHeaderSum(packet, protocol, length - ip);
  putU16(packet, checksumAt, 0);
  const rest = segmentsLeft > 1 ? whole : packet;
  putU16(packet, checksumAt, segmentsLeft > 1 ? fold(pseudo) : finish(sumWords(packet, ip, length, pseudo)));
  return { rest, dropped: { segments: count, bytes: cut + count * headerBytes } };
}

function parseSlot(slot: Uint8Array): { packet: Uint8Array; layout: SuperPacketLayout } | undefined {
  const unwrapped = unwrapSlot(slot);
  if (!unwrapped || unwrapped.segmentSize === 0) return undefined;
  const layout = superPacketLayout(unwrapped.packet, unwrapped.segmentSize);
  if (typeof layout === "string") return undefined;
  return { packet: unwrapped.packet, layout };
}
