// Segmentation of TSO/GSO super-packets in user space, as a NIC would do it: a super-packet is one
// IP + TCP (or UDP) header followed by up to 64 KiB of payload that stands for `segmentSize`-byte
// segments. Splitting gives each segment its own complete headers and checksums (IPv4 id + i,
// TCP seq + i * segmentSize, FIN and PSH on the last segment only, CWR on the first only, lengths,
// pseudo-header checksums). The same code cuts a super-packet into smaller super-packets (so one
// fits a 64 KiB WebSocket message): each piece keeps a partial checksum (the pseudo-header sum the
// kernel expects with VIRTIO_NET_HDR_F_NEEDS_CSUM) and its segment size; a piece of one segment is
// an ordinary packet with its checksum complete.
//
// Never trusts lengths it did not check: the layout is worked out from the IP and TCP/UDP headers
// (the kernel's hdr_len of forwarded packets can be the whole first segment), and anything odd is
// refused with a reason the caller counts.

import {
  finish,
  fold,
  getU16,
  PROTOCOL_TCP,
  PROTOCOL_UDP,
  pseudoHeaderSum,
  putU16,
  sumWords,
} from "./gso-checksum.js";

/**
 * Segments one super-packet may stand for, at most: bounds the work and memory of one split
 * (64 KiB of payload at an MSS of 64 bytes; real flows have an MSS of 500 bytes or more).
 */
export const MAX_SEGMENTS_PER_SUPER_PACKET = 1024;

/** The largest IP packet, bytes (the IPv4 total length and IPv6 payload length are u16). */
export const MAX_SUPER_PACKET_BYTES = 65_535;

const IPV4_MIN_HEADER = 20;
const IPV6_HEADER = 40;
const TCP_MIN_HEADER = 20;
const UDP_HEADER = 8;
const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;
/** Offsets of the checksum field in the TCP and UDP headers (virtio's csum_offset). */
export const TCP_CHECKSUM_OFFSET = 16;
export const UDP_CHECKSUM_OFFSET = 6;

export type GsoRefusal =
  | "not_ip"
  | "truncated"
  | "length_mismatch"
  | "fragment"
  | "not_tcp_or_udp"
  | "ipv6_extension_headers"
  | "bad_transport_header"
  | "bad_segment_size"
  | "too_many_segments";

/** Where a super-packet's parts are, worked out from its own headers. */
export interface SuperPacketLayout {
  version: 4 | 6;
  protocol: typeof PROTOCOL_TCP | typeof PROTOCOL_UDP;
  /** IP header bytes: where the TCP/UDP header starts (virtio's csum_start). */
  ipHeaderBytes: number;
  /** IP plus TCP/UDP header bytes (virtio's hdr_len, recomputed). */
  headerBytes: number;
  segmentSize: number;
  /** Segments it stands for (at least 1). */
  segments: number;
  /** The TCP CWR flag is set (ECN: it goes on the first segment only). */
  cwr: boolean;
}

/** The layout of `packet` as a super-packet of `segmentSize`-byte segments, or why not. */
export function superPacketLayout(packet: Uint8Array, segmentSize: number): SuperPacketLayout | GsoRefusal {
  const length = packet.length;
  if (length < 1) return "not_ip";
  const version = packet[0]! >> 4;
  let ipHeaderBytes: number;
  let protocol: number;
  if (version === 4) {
    if (length < IPV4_MIN_HEADER) return "truncated";
    ipHeaderBytes = (packet[0]! & 0x0f) * 4;
    if (ipHeaderBytes < IPV4_MIN_HEADER || ipHeaderBytes > length) return "truncated";
    if (getU16(packet, 2) !== length) return "length_mismatch";
    if ((getU16(packet, 6) & 0x3fff) !== 0) return "fragment"; // MF or a fragment offset
    protocol = packet[9]!;
  } else if (version === 6) {
    if (length < IPV6_HEADER) return "truncated";
    ipHeaderBytes = IPV6_HEADER;
    if (getU16(packet, 4) + IPV6_HEADER !== length) return "length_mismatch";
    protocol = packet[6]!;
    if (protocol !== PROTOCOL_TCP && protocol !== PROTOCOL_UDP) {
      return protocol === 0 || protocol === 43 || protocol === 44 || protocol === 60
        ? "ipv6_extension_headers"
        : "not_tcp_or_udp";
    }
  } else {
    return "not_ip";
  }
  let headerBytes: number;
  if (protocol === PROTOCOL_TCP) {
    if (length < ipHeaderBytes + TCP_MIN_HEADER) return "truncated";
    const tcpHeader = (packet[ipHeaderBytes + 12]! >> 4) * 4;
    if (tcpHeader < TCP_MIN_HEADER) return "bad_transport_header";
    headerBytes = ipHeaderBytes + tcpHeader;
    if (headerBytes > length) return "truncated";
  } else if (protocol === PROTOCOL_UDP) {
    headerBytes = ipHeaderBytes + UDP_HEADER;
    if (headerBytes > length) return "truncated";
    if (getU16(packet, ipHeaderBytes + 4) !== length - ipHeaderBytes) return "length_mismatch";
  } else {
    return "not_tcp_or_udp";
  }
  if (!Number.isInteger(segmentSize) || segmentSize < 1 || segmentSize > MAX_SUPER_PACKET_BYTES) {
    return "bad_segment_size";
  }
  const segments = Math.max(1, Math.ceil((length - headerBytes) / segmentSize));
  if (segments > MAX_SEGMENTS_PER_SUPER_PACKET) return "too_many_segments";
  return {
    version,
    protocol,
    ipHeaderBytes,
    headerBytes,
    segmentSize,
    segments,
    cwr: protocol === PROTOCOL_TCP && (packet[ipHeaderBytes + 13]! & TCP_CWR) !== 0,
  };
}

/** Pieces and bytes that resegment() writes for `segmentsPerPiece`. */
export function resegmentedSize(
  layout: SuperPacketLayout,
  packetBytes: number,
  segmentsPerPiece: number,
): { pieces: number; bytes: number } {
  const pieces = Math.ceil(layout.segments / segmentsPerPiece);
  return { pieces, bytes: packetBytes + (pieces - 1) * layout.headerBytes };
}

/**
 * Cuts `packet` into pieces of `segmentsPerPiece` segments (1: ordinary packets), written back to
 * back into `out` (room for resegmentedSize().bytes). `emit` is told each piece's length and
 * segment size (0 for an ordinary packet, checksum complete; else the piece is a super-packet with
 * a partial checksum). Returns the bytes written. `packet` is not modified.
 */
export function resegment(
  packet: Uint8Array,
  layout: SuperPacketLayout,
  segmentsPerPiece: number,
  out: Uint8Array,
  emit: (length: number, segmentSize: number) => void,
): number {
  const { ipHeaderBytes: ip, headerBytes, segmentSize, protocol } = layout;
  const v4 = layout.version === 4;
  const pieceBytes = segmentsPerPiece * segmentSize;
  const firstId = v4 ? getU16(packet, 4) : 0;
  const firstSeq =
    protocol === PROTOCOL_TCP
      ? ((packet[ip + 4]! << 24) | (packet[ip + 5]! << 16) | (packet[ip + 6]! << 8) | packet[ip + 7]!) >>> 0
      : 0;
  const checksumAt = ip + (protocol === PROTOCOL_TCP ? TCP_CHECKSUM_OFFSET : UDP_CHECKSUM_OFFSET);
  let written = 0;
  let dataAt = headerBytes;
  for (let piece = 0; dataAt < packet.length || piece === 0; piece++) {
    const dataEnd = Math.min(dataAt + pieceBytes, packet.length);
    const length = headerBytes + dataEnd - dataAt;
    const last = dataEnd === packet.length;
    const isSuper = dataEnd - dataAt > segmentSize;
    const at = written;
    out.set(packet.subarray(0, headerBytes), at);
    out.set(packet.subarray(dataAt, dataEnd), at + headerBytes);
    if (v4) {
      putU16(out, at + 2, length);
      putU16(out, at + 4, (firstId + piece * segmentsPerPiece) & 0xffff);
      putU16(out, at + 10, 0);
      putU16(out, at + 10, finish(sumWords(out, at, at + ip)));
    } else {
      putU16(out, at + 4, length - ip);
    }
    if (protocol === PROTOCOL_TCP) {
      const seq = (firstSeq + piece * pieceBytes) >>> 0;
      out[at + ip + 4] = seq >>> 24;
      out[at + ip + 5] = (seq >>> 16) & 0xff;
      out[at + ip + 6] = (seq >>> 8) & 0xff;
      out[at + ip + 7] = seq & 0xff;
      if (!last) out[at + ip + 13]! &= ~(TCP_FIN | TCP_PSH);
      if (piece > 0) out[at + ip + 13]! &= ~TCP_CWR;
    } else {
      putU16(out, at + ip + 4, length - ip);
    }
    const segment = out.subarray(at, at + length);
    const pseudo = pseudoHeaderSum(segment, protocol, length - ip);
    putU16(out, at + checksumAt, 0);
    putU16(
      out,
      at + checksumAt,
      isSuper ? fold(pseudo) : finish(sumWords(out, at + ip, at + length, pseudo)),
    );
    emit(length, isSuper ? segmentSize : 0);
    written += length;
    dataAt = dataEnd;
    if (last) break;
  }
  return written;
}

/** Splits a super-packet into ordinary packets (fresh memory, one buffer), or says why it cannot. */
export function gsoSplit(packet: Uint8Array, segmentSize: number): Uint8Array[] | GsoRefusal {
  const layout = superPacketLayout(packet, segmentSize);
  if (typeof layout === "string") return layout;
  return resegmentToArrays(packet, layout, 1);
}

/**
 * Cuts a super-packet into super-packets of at most `maxBytes` each (whole segments), or says why
 * it cannot. Pieces of one segment come out as ordinary packets (segment size 0).
 */
export function capSuperPacket(
  packet: Uint8Array,
  segmentSize: number,
  maxBytes: number,
): { packet: Uint8Array; segmentSize: number }[] | GsoRefusal {
  const layout = superPacketLayout(packet, segmentSize);
  if (typeof layout === "string") return layout;
  const perPiece = segmentsPerPieceFor(layout, maxBytes);
  const pieces: { packet: Uint8Array; segmentSize: number }[] = [];
  const { bytes } = resegmentedSize(layout, packet.length, perPiece);
  const out = new Uint8Array(bytes);
  let at = 0;
  resegment(packet, layout, perPiece, out, (length, size) => {
    pieces.push({ packet: out.subarray(at, at + length), segmentSize: size });
    at += length;
  });
  return pieces;
}

/** Whole segments per piece so that a piece is at most `maxBytes` (at least one segment). */
export function segmentsPerPieceFor(layout: SuperPacketLayout, maxBytes: number): number {
  return Math.max(1, Math.floor((maxBytes - layout.headerBytes) / layout.segmentSize));
}

function resegmentToArrays(packet: Uint8Array, layout: SuperPacketLayout, perPiece: number): Uint8Array[] {
  const { bytes } = resegmentedSize(layout, packet.length, perPiece);
  const out = new Uint8Array(bytes);
  const pieces: Uint8Array[] = [];
  let at = 0;
  resegment(packet, layout, perPiece, out, (length) => {
    pieces.push(out.subarray(at, at + length));
    at += length;
  });
  return pieces;
}
