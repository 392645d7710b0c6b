import { describe, expect, it } from "vitest";
import { buildIpv6, NEXT_HEADER_ICMPV6 } from "../testing/ipv6-packets.js";
import { buildIpv4Udp } from "../testing/packets.js";
import { localDrop } from "./link-local-filter.js";

const ADDRESS6 = "fd77:e2e::2"; // the laptop's tunnel address from WELCOME
const LINK_LOCAL = "fe80::5c1e:77ff:fe12:3456"; // the kernel's own on the TUN

describe("the laptop's own link traffic", () => {
  it("stays on the laptop: neighbour discovery, MLD and mDNS to link-scope multicast", () => {
    for (const [source, destination, what] of [
      [LINK_LOCAL, "ff02::2", "router solicitation"],
      ["::", "ff02::1:ff12:3456", "neighbour solicitation while DAD"],
      ["::", "ff02::16", "MLDv2 report before an address"],
      [LINK_LOCAL, "ff02::16", "MLDv2 report"],
      [ADDRESS6, "ff02::fb", "mDNS query"],
      [ADDRESS6, "ff05::1:3", "site-scope multicast"],
    ] as const) {
      const packet = buildIpv6({ source, destination, nextHeader: NEXT_HEADER_ICMPV6 });
      expect(localDrop(packet), what).toBe("ipv6_multicast");
    }
  });

  it("stays on the laptop: unicast from or to fe80::/10", () => {
    expect(localDrop(buildIpv6({ source: LINK_LOCAL, destination: "fe80::1" }))).toBe("ipv6_link_local");
    expect(localDrop(buildIpv6({ source: LINK_LOCAL, destination: "2001:db8:e::2" }))).toBe(
      "ipv6_link_local",
    );
    expect(localDrop(buildIpv6({ source: ADDRESS6, destination: "febf::1" }))).toBe("ipv6_link_local");
  });

  it("goes through the tunnel: IPv4, and IPv6 between global or unique-local unicast addresses", () => {
    const ipv4 = buildIpv4Udp({
      source: "10.77.0.2",
      destination: "224.0.0.251", // IPv4 is the exit's to judge
      sourcePort: 5353,
      destinationPort: 5353,
      payload: new Uint8Array(4),
    });
    expect(localDrop(ipv4)).toBeUndefined();
    for (const destination of ["2001:db8:e::2", "fec0::1", "fd00::1", "fe7f::1"]) {
      expect(localDrop(buildIpv6({ source: ADDRESS6, destination })), destination).toBeUndefined();
    }
  });

  it("is not IP at all: neither version, or shorter than its header", () => {
    expect(localDrop(new Uint8Array([0x50, 0, 0, 20]))).toBe("not_ip");
    expect(localDrop(buildIpv6({ source: ADDRESS6, destination: "2001:db8::1" }).subarray(0, 39))).toBe(
      "not_ip",
    );
    expect(localDrop(new Uint8Array(0))).toBe("not_ip");
  });
});
