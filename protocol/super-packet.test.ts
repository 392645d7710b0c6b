import { describe, expect, it } from "vitest";
import {
  MAX_CARRIED_SUPER_PACKET_BYTES,
  SUPER_PACKET_PREFIX_BYTES,
  unwrapSlot,
  wrapSuperPacket,
} from "./super-packet.js";

describe("super-packets in DATA slots", () => {
  const packet = Uint8Array.from({ length: 3000 }, (_, i) => (i === 0 ? 0x45 : i & 0xff));

  it("round-trips a super-packet with its segment size, the prefix in front", () => {
    const slot = wrapSuperPacket(packet, 1448);
    expect(Array.from(slot.subarray(0, 4))).toEqual([0xf1, 0x00, 0x05, 0xa8]);
    expect(unwrapSlot(slot)).toEqual({ packet, segmentSize: 1448 });
  });

  it("reads an IPv4 or IPv6 packet as an ordinary packet, itself", () => {
    const v6 = Uint8Array.of(0x60, 0, 0, 0);
    expect(unwrapSlot(packet)).toEqual({ packet, segmentSize: 0 });
    expect(unwrapSlot(v6)?.packet).toBe(v6);
  });

  it("refuses a malformed prefix: another kind, a reserved byte, a zero segment size, nothing after it", () => {
    const slot = wrapSuperPacket(packet, 1448);
    for (const [at, value] of [
      [0, 0xf2],
      [1, 1],
    ] as const) {
      const bad = slot.slice();
      bad[at] = value;
      expect(unwrapSlot(bad)).toBeUndefined();
    }
    const zero = slot.slice();
    zero[2] = 0;
    zero[3] = 0;
    expect(unwrapSlot(zero)).toBeUndefined();
    expect(unwrapSlot(slot.subarray(0, SUPER_PACKET_PREFIX_BYTES))).toBeUndefined();
  });

  it("refuses to wrap what a slot cannot hold", () => {
    expect(() => wrapSuperPacket(new Uint8Array(MAX_CARRIED_SUPER_PACKET_BYTES + 1), 1000)).toThrow(
      RangeError,
    );
    expect(() => wrapSuperPacket(packet, 0)).toThrow(RangeError);
  });
});
