import { describe, expect, it } from "vitest";
import { buildTransportPacket, checksumsValid, pattern } from "../testing/gso-packets.js";
import { finish, putU16, sumWords } from "../tun/gso-checksum.js";
import { gsoSplit } from "../tun/gso-split.js";
import { Ecn, ecnOf, markCongestion } from "./ecn.js";
import { wrapSuperPacket } from "./super-packet.js";

/** A TCP packet whose IP header says DSCP `dscp` and ECN `ecn`, its checksums right. */
function packet(version: 4 | 6, ecn: number, dscp = 0x2e, payload = 100): Uint8Array {
  const p = buildTransportPacket({ version, protocol: "tcp", payload: pattern(payload) });
  const trafficClass = (dscp << 2) | ecn;
  if (version === 4) {
    p[1] = trafficClass;
    putU16(p, 10, 0);
    putU16(p, 10, finish(sumWords(p, 0, 20)));
  } else {
    p[0] = 0x60 | (trafficClass >> 4);
    p[1] = ((trafficClass & 0x0f) << 4) | 0x0a; // the flow label's top bits, kept
  }
  return p;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

describe("markCongestion: CE instead of a drop for a flow that speaks ECN", () => {
  for (const version of [4, 6] as const) {
    it(`IPv${version}: ECT(0) and ECT(1) become CE, the DSCP and everything else kept, checksums right`, () => {
      for (const ecn of [Ecn.ECT0, Ecn.ECT1]) {
        const p = packet(version, ecn);
        const expected = packet(version, Ecn.CE);
        expect(markCongestion(p)).toBe(true);
        expect(ecnOf(p)).toBe(Ecn.CE);
        expect(hex(p)).toBe(hex(expected));
        expect(checksumsValid(p)).toBe(true);
      }
    });

    it(`IPv${version}: a Not-ECT packet is left alone (to be dropped), one already CE stays CE`, () => {
      const notEct = packet(version, Ecn.NOT_ECT);
      const before = hex(notEct);
      expect(markCongestion(notEct)).toBe(false);
      expect(hex(notEct)).toBe(before);
      const ce = packet(version, Ecn.CE);
      const ceBefore = hex(ce);
      expect(markCongestion(ce)).toBe(true);
      expect(hex(ce)).toBe(ceBefore);
    });
  }

  it("updates the IPv4 header checksum incrementally: right stays right for any DSCP and header, wrong stays wrong", () => {
    for (let dscp = 0; dscp < 64; dscp++) {
      for (const ecn of [Ecn.ECT0, Ecn.ECT1]) {
        const p = packet(4, ecn, dscp, dscp * 13);
        p[8] = (dscp * 37) & 0xff; // TTL: other header words vary too
        putU16(p, 10, 0);
        putU16(p, 10, finish(sumWords(p, 0, 20)));
        expect(markCongestion(p)).toBe(true);
        expect(checksumsValid(p)).toBe(true);
      }
    }
    const wrong = packet(4, Ecn.ECT0);
    wrong[11] = wrong[11]! ^ 0x40;
    markCongestion(wrong);
    expect(checksumsValid(wrong)).toBe(false);
  });

  it("marks a super-packet slot in its one header: every segment it splits into carries CE", () => {
    for (const version of [4, 6] as const) {
      const big = buildTransportPacket({
        version,
        protocol: "tcp",
        payload: pattern(10 * 1448),
        checksum: "partial",
      });
      if (version === 4) big[1] = Ecn.ECT0;
      else big[1] = big[1]! | (Ecn.ECT0 << 4);
      const slot = wrapSuperPacket(big, 1448);
      expect(markCongestion(slot)).toBe(true);
      const segments = gsoSplit(slot.subarray(4), 1448);
      if (typeof segments === "string") throw new Error(segments);
      expect(segments).toHaveLength(10);
      expect(segments.every((segment) => ecnOf(segment) === Ecn.CE && checksumsValid(segment))).toBe(true);
    }
  });

  it("refuses what is not IP or is shorter than its header", () => {
    expect(markCongestion(new Uint8Array(0))).toBe(false);
    expect(markCongestion(Uint8Array.of(0x45, 0x02, 0, 20))).toBe(false);
    expect(markCongestion(Uint8Array.of(0x62, 0x00, 0, 0))).toBe(false);
    expect(markCongestion(Uint8Array.of(0x12, 0x03))).toBe(false);
    expect(ecnOf(Uint8Array.of(0x12, 0x03))).toBeUndefined();
  });
});
