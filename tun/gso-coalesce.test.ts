import { describe, expect, it } from "vitest";
import { buildTransportPacket, pattern } from "../testing/gso-packets.js";
import { coalesce } from "./gso-coalesce.js";
import { gsoSplit } from "./gso-split.js";

const MSS = 1400;
const ACK = 0x10;
const PSH = 0x08;

/** What a sender's TSO makes of `segments` segments: incrementing ids and sequence numbers. */
function segmentsOf(
  count: number,
  fields: { version?: 4 | 6; port?: number; last?: number; flags?: number } = {},
) {
  return Array.from({ length: count }, (_, i) =>
    buildTransportPacket({
      version: fields.version ?? 4,
      protocol: "tcp",
      sourcePort: fields.port ?? 40_000,
      seq: 5000 + i * MSS,
      id: 100 + i,
      flags: i === count - 1 ? (fields.flags ?? ACK | PSH) : ACK,
      payload: pattern(i === count - 1 ? (fields.last ?? MSS) : MSS, i),
    }),
  );
}

function run(batch: Uint8Array[], maxBytes?: number) {
  const written: { packet: Uint8Array; segmentSize: number }[] = [];
  coalesce(batch, (packet, segmentSize) => written.push({ packet, segmentSize }), maxBytes);
  return written;
}

function split(packet: Uint8Array, segmentSize: number): Uint8Array[] {
  const segments = gsoSplit(packet, segmentSize);
  if (typeof segments === "string") throw new Error(segments);
  return segments;
}

describe("coalesce", () => {
  it("makes consecutive segments of a flow one super-packet that splits back into exactly them", () => {
    for (const version of [4, 6] as const) {
      const segments = segmentsOf(12, { version, last: 321 });
      const written = run(segments);
      expect(written).toHaveLength(1);
      expect(written[0]!.segmentSize).toBe(MSS);
      expect(split(written[0]!.packet, MSS)).toEqual(segments);
    }
  });

  it("coalesces interleaved flows each on its own, keeping each flow's order", () => {
    const a = segmentsOf(6, { port: 1 });
    const b = segmentsOf(6, { port: 2 });
    const written = run(a.flatMap((packet, i) => [packet, b[i]!]));
    expect(written).toHaveLength(2);
    expect(written.flatMap(({ packet, segmentSize }) => split(packet, segmentSize))).toEqual([...a, ...b]);
  });

  it("writes a segment with a bad checksum alone, between super-packets of the rest", () => {
    const segments = segmentsOf(8);
    segments[4]![100]! ^= 0xff; // payload corrupted on the way
    const written = run(segments);
    expect(written.map(({ segmentSize }) => segmentSize)).toEqual([MSS, 0, MSS]);
    expect(written[1]!.packet).toBe(segments[4]);
  });

  it("passes through what cannot join: pure ACKs, a gap in the sequence, a SYN, UDP", () => {
    const ack = buildTransportPacket({ version: 4, protocol: "tcp", payload: new Uint8Array(0) });
    const syn = buildTransportPacket({ version: 4, protocol: "tcp", payload: pattern(10), flags: 0x02 });
    const udp = buildTransportPacket({ version: 4, protocol: "udp", payload: pattern(MSS) });
    const gap = segmentsOf(4);
    gap.splice(2, 1);
    const written = run([ack, syn, udp, ...gap]);
    expect(written.map(({ segmentSize }) => segmentSize)).toEqual([0, 0, 0, MSS, 0]);
    expect(written.slice(0, 3).map(({ packet }) => packet)).toEqual([ack, syn, udp]);
  });

  it("ends a super-packet at PSH or a short segment, and at the size cap", () => {
    const pushed = segmentsOf(3, { last: MSS }).concat(segmentsOf(3).map((p) => p));
    expect(run(pushed.slice(0, 3))).toHaveLength(1);
    const many = segmentsOf(40);
    const capped = run(many, 20 * MSS);
    expect(capped.length).toBeGreaterThan(1);
    expect(capped.every(({ packet }) => packet.length <= 20 * MSS)).toBe(true);
    expect(
      capped.flatMap(({ packet, segmentSize }) => (segmentSize ? split(packet, segmentSize) : [packet])),
    ).toEqual(many);
  });
});
