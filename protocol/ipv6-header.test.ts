import { describe, expect, it } from "vitest";
import { buildIpv6, NEXT_HEADER_ICMPV6 } from "../testing/ipv6-packets.js";
import { formatIpv6, parseIpv6 } from "./ip.js";
import { ipv6Destination, ipv6NextHeader, ipv6Source, ipv6SourceIs, isIpv6 } from "./ipv6-header.js";

describe("IPv6 header fields", () => {
  const packet = buildIpv6({
    source: "fd77::2",
    destination: "2001:db8::80",
    nextHeader: NEXT_HEADER_ICMPV6,
  });

  it("reads the source, destination and next header as views into the packet", () => {
    expect(isIpv6(packet)).toBe(true);
    expect(formatIpv6(ipv6Source(packet))).toBe("fd77::2");
    expect(formatIpv6(ipv6Destination(packet))).toBe("2001:db8::80");
    expect(ipv6Destination(packet).buffer).toBe(packet.buffer);
    expect(ipv6NextHeader(packet)).toBe(NEXT_HEADER_ICMPV6);
  });

  it("checks the source against an address byte for byte", () => {
    expect(ipv6SourceIs(packet, parseIpv6("fd77::2"))).toBe(true);
    expect(ipv6SourceIs(packet, parseIpv6("fd77::3"))).toBe(false);
  });

  it("is not IPv6 when shorter than the fixed header or of another version", () => {
    expect(isIpv6(packet.subarray(0, 39))).toBe(false);
    const v4 = new Uint8Array(packet);
    v4[0] = 0x45;
    expect(isIpv6(v4)).toBe(false);
    expect(isIpv6(new Uint8Array())).toBe(false);
  });
});
