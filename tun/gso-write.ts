// The write side of a TUN with offloads: what goes in front of each packet (a virtio_net_hdr), and
// what becomes of a super-packet. Kept apart from linux.ts so that it runs without a kernel: the
// device gives it `raw`, one write() of a buffer.
//
//   ordinary packet   -> [header "no segmentation", checksum complete] + packet   (one write)
//   super-packet, the kernel segments (gsoWrites)
//                     -> [header TCPV4/TCPV6/UDP_L4, gso_size, NEEDS_CSUM] + packet with the
//                        pseudo-header sum in its checksum field                    (one write)
//   super-packet, the kernel cannot (no offloads, probe failed, UDP without USO, ECN CWR)
//                     -> split here (gso-split.ts), each segment as an ordinary packet
//
// A device without vnet header (no offloads asked for) writes bare packets and splits likewise.

import { fold, PROTOCOL_TCP, PROTOCOL_UDP, pseudoHeaderSum, putU16 } from "./gso-checksum.js";
import {
  MAX_SEGMENTS_PER_SUPER_PACKET,
  MAX_SUPER_PACKET_BYTES,
  resegment,
  resegmentedSize,
  type SuperPacketLayout,
  superPacketLayout,
  TCP_CHECKSUM_OFFSET,
  UDP_CHECKSUM_OFFSET,
} from "./gso-split.js";
import {
  encodeVnetHeader,
  GSO_NONE,
  GSO_TCPV4,
  GSO_TCPV6,
  GSO_UDP_L4,
  VNET_F_NEEDS_CSUM,
  VNET_HDR_BYTES,
  type VnetHeader,
} from "./vnet.js";

/**
 * UDP segments per super-packet the kernel takes at most (UDP_MAX_SEGMENTS: 64 before Linux 6.3,
 * 128 since): more are split here.
 */
export const MAX_KERNEL_UDP_SEGMENTS = 64;

export interface GsoWriteMode {
  /** Each write starts with a virtio_net_hdr (the fd was opened with IFF_VNET_HDR). */
  vnetHeader: boolean;
  /** The kernel segments TCP super-packets written whole. */
  tcp: boolean;
  /** ... and UDP ones (USO). */
  udp: boolean;
}

export interface WriteOutcome {
  /** Every write the kernel was asked for succeeded. */
  ok: boolean;
  /** Ordinary packets the write stood for (segments), and IP bytes written. */
  packets: number;
  bytes: number;
  /** write() calls made. */
  calls: number;
  /** Written whole for the kernel to segment. */
  whole: boolean;
  /** Refused as malformed: nothing written. */
  refused: boolean;
}

const NO_SEGMENTATION: VnetHeader = {
  flags: 0,
  gsoType: GSO_NONE,
  hdrLen: 0,
  gsoSize: 0,
  csumStart: 0,
  csumOffset: 0,
};

export class GsoWriter {
  /** Header and packet of one write. */
  readonly #buffer = new Uint8Array(VNET_HDR_BYTES + MAX_SUPER_PACKET_BYTES);
  /** The segments of a super-packet split here. */
  readonly #segments = new Uint8Array(
    MAX_SUPER_PACKET_BYTES + (MAX_SEGMENTS_PER_SUPER_PACKET - 1) * (60 + 60),
  );

  #mode: GsoWriteMode;
  #probe: (() => GsoWriteMode | undefined) | undefined;

  /**
   * `probe`, if given, runs before the first super-packet would be written whole and says what
   * the kernel takes (linux.ts checks for kernels that refuse a short last segment); undefined
   * means it could not tell yet: this super-packet is split, and the next one probes again.
   */
  constructor(
    private readonly raw: (bytes: Uint8Array, length: number) => boolean,
    mode: GsoWriteMode,
    probe?: () => GsoWriteMode | undefined,
  ) {
    this.#mode = mode;
    this.#probe = probe;
  }

  get mode(): GsoWriteMode {
    return this.#mode;
  }

  /** Writes `packet` (a super-packet if segmentSize > 0); never modifies it. */
  write(packet: Uint8Array, segmentSize = 0): WriteOutcome {
    if (segmentSize === 0) {
      const ok = this.#writeOne(packet, NO_SEGMENTATION);
      return { ok, packets: 1, bytes: packet.length, calls: 1, whole: false, refused: false };
    }
    const layout = superPacketLayout(packet, segmentSize);
    if (typeof layout === "string") {
      return { ok: false, packets: 0, bytes: 0, calls: 0, whole: false, refused: true };
    }
    if (layout.segments > 1 && this.#kernelSegments(layout)) {
      const ok = this.#writeWhole(packet, layout);
      return { ok, packets: layout.segments, bytes: packet.length, calls: 1, whole: true, refused: false };
    }
    return this.#writeSplit(packet, layout);
  }

  #kernelSegments(layout: SuperPacketLayout): boolean {
    if (!this.#mode.vnetHeader || !(this.#mode.tcp || this.#mode.udp)) return false;
    if (this.#probe) {
      const mode = this.#probe();
      if (!mode) return false;
      this.#probe = undefined;
      this.#mode = mode;
    }
    if (layout.protocol === PROTOCOL_TCP) return this.#mode.tcp && !layout.cwr;
    return this.#mode.udp && layout.segments <= MAX_KERNEL_UDP_SEGMENTS;
  }

  #writeWhole(packet: Uint8Array, layout: SuperPacketLayout): boolean {
    const buffer = this.#buffer;
    buffer.set(packet, VNET_HDR_BYTES);
    const tcp = layout.protocol === PROTOCOL_TCP;
    const csumOffset = tcp ? TCP_CHECKSUM_OFFSET : UDP_CHECKSUM_OFFSET;
    // Whatever the sender left there, the kernel wants the pseudo-header sum to complete from.
    const ip = layout.ipHeaderBytes;
    const pseudo = pseudoHeaderSum(packet, layout.protocol, packet.length - ip);
    putU16(buffer, VNET_HDR_BYTES + ip + csumOffset, fold(pseudo));
    encodeVnetHeader(
      {
        flags: VNET_F_NEEDS_CSUM,
        gsoType: tcp ? (layout.version === 4 ? GSO_TCPV4 : GSO_TCPV6) : GSO_UDP_L4,
        hdrLen: layout.headerBytes,
        gsoSize: layout.segmentSize,
        csumStart: ip,
        csumOffset,
      },
      buffer,
    );
    return this.raw(buffer, VNET_HDR_BYTES + packet.length);
  }

  #writeSplit(packet: Uint8Array, layout: SuperPacketLayout): WriteOutcome {
    const out = this.#segments;
    const outcome: WriteOutcome = { ok: true, packets: 0, bytes: 0, calls: 0, whole: false, refused: false };
    let at = 0;
    const { bytes } = resegmentedSize(layout, packet.length, 1);
    if (bytes > out.length) return { ...outcome, ok: false, refused: true };
    resegment(packet, layout, 1, out, (length) => {
      if (!this.#writeOne(out.subarray(at, at + length), NO_SEGMENTATION)) outcome.ok = false;
      outcome.packets++;
      outcome.bytes += length;
      outcome.calls++;
      at += length;
    });
    return outcome;
  }

  #writeOne(packet: Uint8Array, header: VnetHeader): boolean {
    if (!this.#mode.vnetHeader) return this.raw(packet, packet.length);
    const buffer = this.#buffer;
    encodeVnetHeader(header, buffer);
    buffer.set(packet, VNET_HDR_BYTES);
    return this.raw(buffer, VNET_HDR_BYTES + packet.length);
  }

  /**
   * A vnet header and a TCP/IPv4 super-packet of three 64-byte segments, the last one byte: what
   * some 6.1/6.6 point releases refuse. Sent from 192.0.2.1 (TEST-NET-1) to 0.0.0.0, which every
   * kernel drops as a martian destination after taking the write.
   */
  static probePacket(protocol: "tcp" | "udp" = "tcp"): Uint8Array {
    const segmentSize = 64;
    const ip = 20;
    const transport = protocol === "tcp" ? 20 : 8;
    const length = ip + transport + 2 * segmentSize + 1;
    const packet = new Uint8Array(length);
    packet[0] = 0x45;
    putU16(packet, 2, length);
    putU16(packet, 6, 0x4000);
    packet[8] = 1; // TTL 1: were it ever routed, it would not go far
    packet[9] = protocol === "tcp" ? PROTOCOL_TCP : PROTOCOL_UDP;
    packet.set([192, 0, 2, 1], 12);
    // destination 0.0.0.0: the zeros already there
    putU16(packet, ip, 9); // discard port, both ways
    putU16(packet, ip + 2, 9);
    if (protocol === "tcp") {
      packet[ip + 12] = 5 << 4;
      packet[ip + 13] = 0x10; // ACK
    } else {
      putU16(packet, ip + 4, length - ip);
    }
    let sum = 0;
    for (let i = 0; i < ip; i += 2) sum += (packet[i]! << 8) | packet[i + 1]!;
    putU16(packet, 10, ~fold(sum) & 0xffff);
    const layout = superPacketLayout(packet, segmentSize);
    if (typeof layout === "string") throw new Error(`probe packet: ${layout}`);
    let written: Uint8Array | undefined;
    const writer = new GsoWriter(
      (bytes, n) => {
        written = bytes.slice(0, n);
        return true;
      },
      { vnetHeader: true, tcp: true, udp: true },
    );
    writer.write(packet, segmentSize);
    if (!written) throw new Error("probe packet: not built");
    return written;
  }
}
