import { describe, expect, it } from "vitest";
import {
  buildTransportPacket,
  checksumsValid,
  pattern,
  tcpFlags,
  tcpSeq,
  transportPayload,
} from "../testing/gso-packets.js";
import { completeChecksum } from "./gso-checksum.js";
import {
  capSuperPacket,
  gsoSplit,
  MAX_SEGMENTS_PER_SUPER_PACKET,
  resegment,
  resegmentedSize,
  superPacketLayout,
} from "./gso-split.js";

const FIN = 0x01;
const PSH = 0x08;
const ACK = 0x10;
const CWR = 0x80;
const MSS = 1400;

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function split(packet: Uint8Array, segmentSize: number): Uint8Array[] {
  const segments = gsoSplit(packet, segmentSize);
  if (typeof segments === "string") throw new Error(`refused: ${segments}`);
  return segments;
}

describe("gsoSplit of a TCP/IPv4 super-packet", () => {
  const payload = pattern(10 * MSS + 123); // ten full segments and a short last one
  const packet = buildTransportPacket({
    version: 4,
    protocol: "tcp",
    payload,
    seq: 0xffff_f000, // wraps within the packet
    id: 0xfffe, // wraps too
    flags: ACK | PSH | FIN | CWR,
    checksum: "partial",
  });

  it("gives MSS-sized segments whose payloads make up the original, the last one short", () => {
    const segments = split(packet, MSS);
    expect(segments.map((segment) => transportPayload(segment).length)).toEqual([
      ...Array(10).fill(MSS),
      123,
    ]);
    expect(concat(segments.map(transportPayload))).toEqual(payload);
    expect(segments.every((segment) => segment.length === 40 + transportPayload(segment).length)).toBe(true);
  });

  it("completes every IPv4 header and TCP checksum (pseudo-header included)", () => {
    expect(split(packet, MSS).every(checksumsValid)).toBe(true);
  });

  it("advances the sequence number by the payload and the IPv4 id by one per segment, wrapping", () => {
    const segments = split(packet, MSS);
    expect(segments.map(tcpSeq)).toEqual(segments.map((_, i) => (0xffff_f000 + i * MSS) >>> 0));
    expect(segments.map((segment) => (segment[4]! << 8) | segment[5]!)).toEqual(
      segments.map((_, i) => (0xfffe + i) & 0xffff),
    );
    expect(segments.map((segment) => (segment[2]! << 8) | segment[3]!)).toEqual(
      segments.map((segment) => segment.length),
    );
  });

  it("keeps FIN and PSH for the last segment and CWR for the first", () => {
    const flags = split(packet, MSS).map(tcpFlags);
    expect(flags[0]).toBe(ACK | CWR);
    expect(flags.slice(1, -1).every((flag) => flag === ACK)).toBe(true);
    expect(flags.at(-1)).toBe(ACK | PSH | FIN);
  });

  it("leaves the super-packet as it was", () => {
    const before = packet.slice();
    split(packet, MSS);
    expect(packet).toEqual(before);
  });

  it("copies TCP options into every segment", () => {
    const options = new Uint8Array([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]); // NOP NOP timestamps
    const withOptions = buildTransportPacket({
      version: 4,
      protocol: "tcp",
      payload: pattern(3 * 1000),
      tcpOptions: options,
    });
    const segments = split(withOptions, 1000);
    expect(segments).toHaveLength(3);
    for (const segment of segments) {
      expect(segment.subarray(40, 52)).toEqual(options);
      expect(checksumsValid(segment)).toBe(true);
    }
  });
});

describe("gsoSplit of other super-packets", () => {
  it("splits TCP/IPv6, setting each payload length", () => {
    const payload = pattern(5 * MSS - 1);
    const segments = split(buildTransportPacket({ version: 6, protocol: "tcp", payload }), MSS);
    expect(segments).toHaveLength(5);
    expect(concat(segments.map(transportPayload))).toEqual(payload);
    for (const segment of segments) {
      expect(((segment[4]! << 8) | segment[5]!) + 40).toBe(segment.length);
      expect(checksumsValid(segment)).toBe(true);
    }
  });

  it("splits UDP (USO) over IPv4 and IPv6, each datagram with its own length and checksum", () => {
    for (const version of [4, 6] as const) {
      const payload = pattern(4 * 1200 + 7, version);
      const segments = split(buildTransportPacket({ version, protocol: "udp", payload }), 1200);
      expect(segments.map((segment) => transportPayload(segment).length)).toEqual([
        1200, 1200, 1200, 1200, 7,
      ]);
      expect(concat(segments.map(transportPayload))).toEqual(payload);
      const ip = version === 4 ? 20 : 40;
      for (const segment of segments) {
        expect((segment[ip + 4]! << 8) | segment[ip + 5]!).toBe(segment.length - ip);
        expect(checksumsValid(segment)).toBe(true);
      }
    }
  });

  it("gives a packet no longer than one segment back alone, checksum completed", () => {
    const packet = buildTransportPacket({
      version: 4,
      protocol: "tcp",
      payload: pattern(100),
      checksum: "partial",
    });
    const segments = split(packet, MSS);
    expect(segments).toHaveLength(1);
    expect(checksumsValid(segments[0]!)).toBe(true);
    expect(transportPayload(segments[0]!)).toEqual(pattern(100));
  });
});

describe("superPacketLayout refuses what it cannot split", () => {
  const good = buildTransportPacket({ version: 4, protocol: "tcp", payload: pattern(3000) });

  it("recomputes the header length from the TCP header (the kernel's hdr_len is not trusted)", () => {
    expect(superPacketLayout(good, MSS)).toMatchObject({ ipHeaderBytes: 20, headerBytes: 40, segments: 3 });
  });

  it.each([
    ["an empty buffer", new Uint8Array(0), MSS, "not_ip"],
    ["a version 5 packet", Uint8Array.from([0x50, ...good.subarray(1)]), MSS, "not_ip"],
    ["a cut IPv4 header", good.subarray(0, 12), MSS, "truncated"],
    ["a total length that is not the packet's", good.subarray(0, 2000), MSS, "length_mismatch"],
    ["a segment size of 0", good, 0, "bad_segment_size"],
    ["a segment size over 64 KiB", good, 70_000, "bad_segment_size"],
  ] as const)("refuses %s", (_what, packet, segmentSize, reason) => {
    expect(superPacketLayout(packet, segmentSize)).toBe(reason);
  });

  it("refuses a fragment, ICMP, and a TCP header shorter than 20 bytes", () => {
    const fragment = good.slice();
    fragment[6] = 0x20; // more fragments
    expect(superPacketLayout(fragment, MSS)).toBe("fragment");
    const icmp = good.slice();
    icmp[9] = 1;
    expect(superPacketLayout(icmp, MSS)).toBe("not_tcp_or_udp");
    const shortTcp = good.slice();
    shortTcp[32] = 0x40; // data offset 4 words
    expect(superPacketLayout(shortTcp, MSS)).toBe("bad_transport_header");
  });

  it("refuses an IPv6 packet with extension headers", () => {
    const hopByHop = buildTransportPacket({ version: 6, protocol: "tcp", payload: pattern(10) });
    hopByHop[6] = 0;
    expect(superPacketLayout(hopByHop, MSS)).toBe("ipv6_extension_headers");
  });

  it(`refuses more than ${MAX_SEGMENTS_PER_SUPER_PACKET} segments`, () => {
    const many = buildTransportPacket({ version: 4, protocol: "udp", payload: pattern(60_000) });
    expect(superPacketLayout(many, 50)).toBe("too_many_segments");
    expect(superPacketLayout(many, 60)).toMatchObject({ segments: 1000 });
  });
});

describe("capSuperPacket cuts a super-packet to fit a message", () => {
  const payload = pattern(60_000);
  const packet = buildTransportPacket({
    version: 4,
    protocol: "tcp",
    payload,
    flags: ACK | PSH | FIN,
    checksum: "partial",
  });

  it("gives pieces of whole segments under the cap, each a super-packet with its segment size", () => {
    const pieces = capSuperPacket(packet, MSS, 16_384);
    if (typeof pieces === "string") throw new Error(pieces);
    expect(pieces.length).toBe(Math.ceil(60_000 / (11 * MSS)));
    for (const piece of pieces) {
      expect(piece.packet.length).toBeLessThanOrEqual(16_384);
      expect(piece.segmentSize).toBe(MSS);
    }
    expect(concat(pieces.map((piece) => transportPayload(piece.packet)))).toEqual(payload);
  });

  it("splits its pieces into exactly the segments the whole packet splits into", () => {
    const pieces = capSuperPacket(packet, MSS, 16_384);
    if (typeof pieces === "string") throw new Error(pieces);
    expect(pieces.flatMap((piece) => split(piece.packet, piece.segmentSize))).toEqual(split(packet, MSS));
  });

  it("leaves the partial checksum (pseudo-header sum) a kernel completes for each piece", () => {
    const pieces = capSuperPacket(packet, MSS, 16_384);
    if (typeof pieces === "string") throw new Error(pieces);
    for (const piece of pieces) {
      const completed = piece.packet.slice();
      completeChecksum(completed, 20, 16);
      expect(checksumsValid(completed)).toBe(true);
    }
  });

  it("gives a last piece of one segment as an ordinary packet", () => {
    const pieces = capSuperPacket(
      buildTransportPacket({ version: 6, protocol: "tcp", payload: pattern(2 * MSS + 10) }),
      MSS,
      60 + 2 * MSS,
    );
    if (typeof pieces === "string") throw new Error(pieces);
    expect(pieces.map((piece) => piece.segmentSize)).toEqual([MSS, 0]);
    expect(checksumsValid(pieces[1]!.packet)).toBe(true);
  });

  it("needs exactly the room resegmentedSize() says", () => {
    const layout = superPacketLayout(packet, MSS);
    if (typeof layout === "string") throw new Error(layout);
    const size = resegmentedSize(layout, packet.length, 1);
    const out = new Uint8Array(size.bytes);
    let pieces = 0;
    expect(resegment(packet, layout, 1, out, () => pieces++)).toBe(size.bytes);
    expect(pieces).toBe(size.pieces);
  });
});

describe("completeChecksum", () => {
  it("completes a partial TCP checksum from the pseudo-header sum in the field", () => {
    for (const version of [4, 6] as const) {
      const packet = buildTransportPacket({
        version,
        protocol: "tcp",
        payload: pattern(999),
        checksum: "partial",
      });
      expect(checksumsValid(packet)).toBe(false);
      completeChecksum(packet, version === 4 ? 20 : 40, 16);
      expect(checksumsValid(packet)).toBe(true);
    }
  });
});
