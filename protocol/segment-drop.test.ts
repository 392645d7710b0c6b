import { describe, expect, it } from "vitest";
import {
  buildTransportPacket,
  checksumsValid,
  pattern,
  type TransportPacket,
  tcpFlags,
  tcpSeq,
} from "../testing/gso-packets.js";
import { gsoSplit, superPacketLayout } from "../tun/gso-split.js";
import { dropHeadSegments, slotSize } from "./segment-drop.js";
import { unwrapSlot, wrapSuperPacket } from "./super-packet.js";

const ACK_PSH = 0x18;
const CWR = 0x80;
const FIN = 0x01;
/** RFC 7323 timestamps, padded: a 32-byte TCP header as Linux sends it. */
const TIMESTAMPS = Uint8Array.of(1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2);

/** A super-packet of `segments` full segments of `mss` and a short last one, in its slot. */
function superSlot(fields: Omit<TransportPacket, "payload" | "checksum">, mss: number, segments: number) {
  const payload = pattern(mss * (segments - 1) + Math.floor(mss / 3), 5);
  const packet = buildTransportPacket({ ...fields, payload, checksum: "partial" });
  return { packet, payload, slot: wrapSuperPacket(packet, mss) };
}

function unwrapped(slot: Uint8Array) {
  const result = unwrapSlot(slot);
  if (!result) throw new Error("not a slot");
  return result;
}

describe("dropHeadSegments: one segment off a queued super-packet, the rest still one", () => {
  for (const version of [4, 6] as const) {
    it(`IPv${version} TCP: what is left is the super-packet the sender would have built without its first segment`, () => {
      const mss = 1448;
      const fields = {
        version,
        protocol: "tcp",
        seq: 7_000,
        id: 0x4242,
        flags: ACK_PSH | CWR | FIN,
        tcpOptions: TIMESTAMPS,
      } as const;
      const { packet, payload, slot } = superSlot(fields, mss, 10);
      const original = gsoSplit(packet, mss);
      if (typeof original === "string") throw new Error(original);

      const cut = dropHeadSegments(slot, 1);
      if (!cut) throw new Error("nothing cut");
      const rest = unwrapped(cut.rest);
      expect(rest.segmentSize).toBe(mss);
      // Byte for byte an independently built super-packet: id + 1, seq + MSS, CWR off (it rides
      // on the first segment only), FIN and PSH kept for the last, lengths and partial checksum.
      const expected = buildTransportPacket({
        ...fields,
        seq: 7_000 + mss,
        id: 0x4243,
        flags: ACK_PSH | FIN,
        payload: payload.subarray(mss),
        checksum: "partial",
      });
      expect(Buffer.from(rest.packet).equals(Buffer.from(expected))).toBe(true);
      expect(superPacketLayout(rest.packet, mss)).toMatchObject({ segments: 9 });

      const split = gsoSplit(rest.packet, mss);
      if (typeof split === "string") throw new Error(split);
      expect(split.map((s) => Buffer.from(s).toString("hex"))).toEqual(
        original.slice(1).map((s) => Buffer.from(s).toString("hex")),
      );
      expect(split.every(checksumsValid)).toBe(true);
      expect(cut.dropped).toEqual({ segments: 1, bytes: original[0]!.length });
    });
  }

  it("IPv4 UDP (USO): the datagrams left are the original's but the first", () => {
    const { packet, slot } = superSlot({ version: 4, protocol: "udp", id: 9 }, 1200, 5);
    const original = gsoSplit(packet, 1200) as Uint8Array[];
    const rest = unwrapped(dropHeadSegments(slot, 1)!.rest);
    const split = gsoSplit(rest.packet, 1200) as Uint8Array[];
    expect(split.map((s) => Buffer.from(s).toString("hex"))).toEqual(
      original.slice(1).map((s) => Buffer.from(s).toString("hex")),
    );
    expect(split.every(checksumsValid)).toBe(true);
  });

  it("cuts several segments at once (the memory bound's batch), and wraps seq and id at 2^32 and 2^16", () => {
    const mss = 1000;
    const { packet, slot } = superSlot(
      { version: 4, protocol: "tcp", seq: 0xffff_ffff - 1500, id: 0xfffe, flags: ACK_PSH },
      mss,
      8,
    );
    const original = gsoSplit(packet, mss) as Uint8Array[];
    const cut = dropHeadSegments(slot, 3)!;
    const rest = unwrapped(cut.rest);
    expect(tcpSeq(rest.packet)).toBe((0xffff_ffff - 1500 + 3 * mss) >>> 0);
    expect(new DataView(rest.packet.buffer, rest.packet.byteOffset).getUint16(4)).toBe(1);
    const split = gsoSplit(rest.packet, mss) as Uint8Array[];
    expect(split.map((s) => Buffer.from(s).toString("hex"))).toEqual(
      original.slice(3).map((s) => Buffer.from(s).toString("hex")),
    );
    expect(cut.dropped).toEqual({ segments: 3, bytes: 3 * original[0]!.length });
  });

  it("leaves an ordinary packet, its checksum complete, when one segment is left", () => {
    for (const version of [4, 6] as const) {
      const { packet, slot } = superSlot({ version, protocol: "tcp", flags: ACK_PSH | CWR }, 1448, 2);
      const original = gsoSplit(packet, 1448) as Uint8Array[];
      const rest = dropHeadSegments(slot, 1)!.rest;
      expect(unwrapped(rest).segmentSize).toBe(0);
      expect(checksumsValid(rest)).toBe(true);
      expect(tcpFlags(rest) & CWR).toBe(0);
      expect(Buffer.from(rest).equals(Buffer.from(original[1]!))).toBe(true);
    }
  });

  it("cuts nothing from an ordinary packet, a malformed slot, or a super-packet with no more segments than asked", () => {
    const { packet, slot } = superSlot({ version: 4, protocol: "tcp" }, 1448, 3);
    expect(dropHeadSegments(packet, 1)).toBeUndefined();
    expect(dropHeadSegments(slot.slice(), 3)).toBeUndefined();
    expect(dropHeadSegments(slot.slice(), 0)).toBeUndefined();
    const lying = slot.slice();
    lying[4 + 3]! ^= 1; // the IPv4 total length no longer matches
    expect(dropHeadSegments(lying, 1)).toBeUndefined();
    const notSlot = slot.slice();
    notSlot[0] = 0xf2;
    expect(dropHeadSegments(notSlot, 1)).toBeUndefined();
  });
});

describe("slotSize: what a slot stands for on the wire", () => {
  it("counts a super-packet's segments, each with its own headers, and an ordinary packet as one", () => {
    const { packet, slot } = superSlot({ version: 6, protocol: "tcp", tcpOptions: TIMESTAMPS }, 1428, 12);
    const split = gsoSplit(packet, 1428) as Uint8Array[];
    expect(slotSize(slot)).toEqual({ segments: 12, bytes: split.reduce((sum, s) => sum + s.length, 0) });
    expect(slotSize(split[0]!)).toEqual({ segments: 1, bytes: split[0]!.length });
    expect(slotSize(Uint8Array.of(0xf2, 0, 0, 1, 0))).toEqual({ segments: 1, bytes: 5 });
  });
});
