import { describe, expect, it } from "vitest";
import {
  buildTransportPacket,
  checksumsValid,
  pattern,
  tcpSeq,
  transportPayload,
} from "../testing/gso-packets.js";
import { SUPER_PACKET_MAX_BYTES } from "./device.js";
import { forPeer } from "./gso-peer.js";
import { gsoSplit } from "./gso-split.js";

const MSS = 1348;
/** A TCP super-packet of `segments` full segments, checksum partial, as the reader hands it over. */
function superPacket(segments: number, seq = 5000): Uint8Array {
  return buildTransportPacket({
    version: 4,
    protocol: "tcp",
    payload: pattern(segments * MSS),
    seq,
    checksum: "partial",
  });
}
const ordinary = buildTransportPacket({ version: 4, protocol: "udp", payload: pattern(100) });

describe("what a tunnel end sends its peer from a TUN read in super-packet mode", () => {
  it("passes a batch without super-packets as it is, the same objects, whatever the peer takes", () => {
    for (const takes of [true, false]) {
      const batch = [ordinary, ordinary];
      const out = forPeer(batch, [0, 0], takes);
      expect(out.packets).toBe(batch);
      expect(out.segmentSizes).toBeUndefined();
      expect(forPeer(batch, undefined, takes).packets).toBe(batch);
    }
  });

  it("to a peer that takes super-packets: they go as they are, in their place", () => {
    const big = superPacket(10);
    const out = forPeer([ordinary, big, ordinary], [0, MSS, 0], true);
    expect(out.packets).toEqual([ordinary, big, ordinary]);
    expect(out.packets[1]).toBe(big);
    expect(out.segmentSizes).toEqual([0, MSS, 0]);
  });

  it("to a peer without them: split in user space, headers and checksums complete, in order", () => {
    const big = superPacket(10);
    const out = forPeer([ordinary, big, ordinary], [0, MSS, 0], false);
    expect(out.segmentSizes).toBeUndefined();
    expect(out.packets).toHaveLength(12);
    expect(out.packets[0]).toBe(ordinary);
    expect(out.packets[11]).toBe(ordinary);
    const segments = out.packets.slice(1, 11);
    expect(segments).toEqual(gsoSplit(big, MSS));
    for (const [i, segment] of segments.entries()) {
      expect(checksumsValid(segment)).toBe(true);
      expect(tcpSeq(segment)).toBe(5000 + i * MSS);
      expect(transportPayload(segment)).toEqual(pattern(10 * MSS).subarray(i * MSS, (i + 1) * MSS));
    }
  });

  it("cuts a super-packet too large for one 64 KiB message at segment boundaries", () => {
    const huge = superPacket(48); // 64,756 bytes: over SUPER_PACKET_MAX_BYTES with a small cap
    const out = forPeer([huge], [MSS], true, 20_000);
    expect(out.packets.every((p) => p.length <= 20_000)).toBe(true);
    expect(out.segmentSizes?.every((size) => size === MSS)).toBe(true);
    const payload = out.packets.flatMap((p) => [...transportPayload(p)]);
    expect(payload).toEqual([...pattern(48 * MSS)]);
    expect(forPeer([huge], [MSS], true).packets).toEqual([huge]);
    expect(huge.length).toBeLessThanOrEqual(SUPER_PACKET_MAX_BYTES);
  });

  it("drops and counts a super-packet it cannot read, either way", () => {
    const broken = superPacket(3).slice(0, 30); // cut inside the TCP header
    for (const takes of [true, false]) {
      const out = forPeer([broken, ordinary], [MSS, 0], takes, takes ? 10 : undefined);
      expect(out.refused).toBe(1);
      expect(out.packets).toEqual([ordinary]);
    }
  });
});
