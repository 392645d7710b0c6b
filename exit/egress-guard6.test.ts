import { describe, expect, it } from "vitest";
import { type Ipv6Cidr, parseCidr, parseIpv6 } from "../protocol/ip.js";
import { buildIpv6, NEXT_HEADER_ICMPV6, NEXT_HEADER_TCP, ports } from "../testing/ipv6-packets.js";
import { EgressGuard6, REFUSED_RANGES6, refusedRange6 } from "./egress-guard6.js";

const cidr6 = (text: string) => parseCidr(text) as Ipv6Cidr;
const udp = (destination: string, port = 443) =>
  buildIpv6({ source: "fd77::2", destination, payload: ports(40000, port) });

describe("the egress guard for IPv6", () => {
  const guard = new EgressGuard6({
    ownAddresses: ["2001:4860:1::10", "fe80::1%eth0", "::1", "fd77::1"],
    publicAddresses: ["2606:4700::1111"],
    pool: cidr6("fd77::/64"),
    deny: [cidr6("2a00:1450::/32")],
  });

  it.each([
    ["fd00:1::1", "egress_private"],
    ["fc00::1", "egress_private"],
    ["fd77::2", "egress_pool"],
    ["fd77::1", "egress_own_address"],
    ["::1", "egress_own_address"],
    ["fe80::1", "egress_own_address"],
    ["fe80::abcd", "egress_link_local"],
    ["febf::1", "egress_link_local"],
    ["fec0::1", "egress_link_local"],
    ["ff02::1", "egress_multicast"],
    ["ff05::1:3", "egress_multicast"],
    ["::ffff:10.0.0.1", "egress_ipv4_mapped"],
    ["::ffff:8.8.8.8", "egress_ipv4_mapped"],
    ["::10.0.0.1", "egress_ipv4_mapped"],
    ["64:ff9b::a9fe:a9fe", "egress_ipv4_mapped"],
    ["64:ff9b:1::1", "egress_ipv4_mapped"],
    ["2002:a00:1::1", "egress_ipv4_mapped"],
    ["2001:db8::80", "egress_documentation"],
    ["3fff:fff::1", "egress_documentation"],
    ["2001::1", "egress_reserved"],
    ["2001:2::1", "egress_reserved"],
    ["100::1", "egress_reserved"],
    ["5f00::1", "egress_reserved"],
    ["::", "egress_reserved"],
    ["4000::1", "egress_reserved"],
    ["e000::1", "egress_reserved"],
    ["2001:4860:1::10", "egress_own_address"],
    ["2606:4700::1111", "egress_own_address"],
    ["2a00:1450:4001::5", "egress_denied"],
  ])("refuses %s as %s", (destination, reason) => {
    expect(guard.check(udp(destination))).toBe(reason);
  });

  it.each(["2606:4700:4700::1111", "2001:4860:4860::8888", "2a03:2880::1", "2001:200::1", "3fff:1000::1"])(
    "lets global unicast %s through",
    (destination) => {
      expect(guard.check(udp(destination))).toBeUndefined();
    },
  );

  it("tests the longest prefix first: ::1 is loopback, not IPv4-compatible", () => {
    expect(refusedRange6(parseIpv6("::1"))).toBe("egress_loopback");
    expect(refusedRange6(parseIpv6("2001:db8:1::1"))).toBe("egress_documentation");
  });

  it("opens a default range with --allow-egress, but never the pool, the exit or the deny list", () => {
    const open = new EgressGuard6({
      ownAddresses: ["2001:db8:e::1"],
      pool: cidr6("fd77::/64"),
      deny: [cidr6("2001:db8:e:dead::/64")],
      allow: [cidr6("2001:db8::/32"), cidr6("fd00::/8")],
    });
    expect(open.check(udp("2001:db8:e::2"))).toBeUndefined();
    expect(open.check(udp("fd12::1"))).toBeUndefined();
    expect(open.check(udp("2001:db8:e::1"))).toBe("egress_own_address");
    expect(open.check(udp("fd77::5"))).toBe("egress_pool");
    expect(open.check(udp("2001:db8:e:dead::1"))).toBe("egress_denied");
  });

  it("lets the announced DNS servers be reached on port 53 only, over UDP or TCP", () => {
    const withDns = new EgressGuard6({ ownAddresses: ["fd77::1"], dnsServers: ["fd77::1", "fd00:53::53"] });
    expect(withDns.check(udp("fd77::1", 53))).toBeUndefined();
    expect(
      withDns.check(
        buildIpv6({
          source: "fd77::2",
          destination: "fd00:53::53",
          nextHeader: NEXT_HEADER_TCP,
          payload: ports(1, 53),
        }),
      ),
    ).toBeUndefined();
    expect(withDns.check(udp("fd77::1", 22))).toBe("egress_own_address");
    expect(withDns.check(udp("fd00:53::53", 80))).toBe("egress_private");
    const ping = buildIpv6({ source: "fd77::2", destination: "fd00:53::53", nextHeader: NEXT_HEADER_ICMPV6 });
    expect(withDns.check(ping)).toBe("egress_private");
  });

  it("relearns the exit's own addresses and keeps its public ones", () => {
    const relearning = new EgressGuard6({
      ownAddresses: ["2001:4860:1::10"],
      publicAddresses: ["2606:4700::1"],
    });
    relearning.setOwnAddresses(["2001:4860:1::20"]);
    expect(relearning.check(udp("2001:4860:1::10"))).toBeUndefined();
    expect(relearning.check(udp("2001:4860:1::20"))).toBe("egress_own_address");
    expect(relearning.check(udp("2606:4700::1"))).toBe("egress_own_address");
  });

  it("names a reason for every default range", () => {
    for (const { cidr, reason } of REFUSED_RANGES6) {
      const { network, length } = parseCidr(cidr) as Ipv6Cidr;
      const inside = new Uint8Array(network);
      if (length <= 120) inside[15] = 2; // an address inside, not the prefix's first (:: is its own)
      expect(refusedRange6(inside), cidr).toBe(reason);
    }
  });
});
