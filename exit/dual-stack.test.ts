import { describe, expect, it } from "vitest";
import { parseIpv4, parseIpv4Cidr } from "../protocol/ip.js";
import { buildIpv6, ports } from "../testing/ipv6-packets.js";
import { buildIpv4Udp } from "../testing/packets.js";
import { DualStack, type DualStackSession } from "./dual-stack.js";
import { EgressGuard } from "./egress-guard.js";
import { EgressGuard6 } from "./egress-guard6.js";
import { AddressPool } from "./pool.js";
import { Ipv6Pool, parsePrefix6 } from "./pool6.js";

const v4 = (source: string, destination: string) =>
  buildIpv4Udp({ source, destination, sourcePort: 40000, destinationPort: 443, payload: new Uint8Array(4) });
const v6 = (source: string, destination: string) =>
  buildIpv6({ source, destination, payload: ports(40000, 443) });

function exitWith(pool6: Ipv6Pool | undefined) {
  const pool = new AddressPool("10.77.0.0/16");
  const sessions = new Map<number, DualStackSession>();
  const session = (address: string) => {
    const s = { addressInt: parseIpv4(address) };
    sessions.set(s.addressInt, s);
    return s;
  };
  const stack = new DualStack({
    pool,
    pool6,
    egress: new EgressGuard({ ownAddresses: ["10.77.0.1"], pool: parseIpv4Cidr("10.77.0.0/16") }),
    egress6: new EgressGuard6({ ownAddresses: ["fd77::1"], pool: pool6?.prefix }),
    dns6: ["fd77::1"],
    byDestination: (address) => sessions.get(address),
  });
  return { stack, session };
}

describe("the exit's packet path for both families", () => {
  const { stack, session } = exitWith(new Ipv6Pool(parsePrefix6("fd77::/64")));
  const laptop = session("10.77.0.5");
  const other = session("10.77.1.2");

  it("gives a session the IPv6 address of its IPv4 host index, announced as a /128 with the IPv6 DNS", () => {
    expect(stack.address6(laptop)?.text).toBe("fd77::5");
    expect(stack.address6(other)?.text).toBe("fd77::102");
    expect(stack.welcome(laptop)).toEqual({ address: "fd77::5", prefixLength: 128, dns: ["fd77::1"] });
  });

  it("sends on a laptop's packets from its own addresses, of both families", () => {
    expect(stack.upstreamDrop(v4("10.77.0.5", "8.8.8.8"), laptop)).toBeUndefined();
    expect(stack.upstreamDrop(v6("fd77::5", "2606:4700::1111"), laptop)).toBeUndefined();
  });

  it("drops spoofed sources of both families, another laptop's address included", () => {
    expect(stack.upstreamDrop(v4("10.77.1.2", "8.8.8.8"), laptop)).toBe("spoofed_source");
    expect(stack.upstreamDrop(v6("fd77::102", "2606:4700::1111"), laptop)).toBe("spoofed_source");
    expect(stack.upstreamDrop(v6("2606:4700::9", "2606:4700::1111"), laptop)).toBe("spoofed_source");
    expect(stack.upstreamDrop(v6("fe80::1", "ff02::2"), laptop)).toBe("spoofed_source"); // the laptop's router solicitation
  });

  it("asks each family's egress guard", () => {
    expect(stack.upstreamDrop(v4("10.77.0.5", "169.254.169.254"), laptop)).toBe("egress_link_local");
    expect(stack.upstreamDrop(v6("fd77::5", "fd77::102"), laptop)).toBe("egress_pool");
    expect(stack.upstreamDrop(v6("fd77::5", "::ffff:169.254.169.254"), laptop)).toBe("egress_ipv4_mapped");
  });

  it("drops what is neither IPv4 nor IPv6 as not_ip", () => {
    expect(stack.upstreamDrop(new Uint8Array([0x50, ...new Uint8Array(39)]), laptop)).toBe("not_ip");
    expect(stack.upstreamDrop(v6("fd77::5", "2606:4700::1111").subarray(0, 39), laptop)).toBe("not_ip");
    expect(stack.sessionFor(new Uint8Array(3))).toBe("not_ip");
  });

  it("finds the session of a packet from the TUN by its IPv4 or IPv6 destination", () => {
    expect(stack.sessionFor(v4("8.8.8.8", "10.77.0.5"))).toBe(laptop);
    expect(stack.sessionFor(v6("2606:4700::1111", "fd77::5"))).toBe(laptop);
    expect(stack.sessionFor(v6("2606:4700::1111", "fd77::102"))).toBe(other);
    expect(stack.sessionFor(v6("2606:4700::1111", "fd77::6"))).toBe("no_session");
    expect(stack.sessionFor(v6("2606:4700::1111", "fd78::5"))).toBe("no_session");
    expect(stack.sessionFor(v4("8.8.8.8", "10.77.0.6"))).toBe("no_session");
  });
});

describe("an IPv4-only exit", () => {
  const { stack, session } = exitWith(undefined);
  const laptop = session("10.77.0.5");

  it("offers no IPv6, drops a laptop's IPv6 as no_ipv6 and routes no IPv6 to a session", () => {
    expect(stack.ipv6).toBe(false);
    expect(stack.welcome(laptop)).toBeUndefined();
    expect(stack.upstreamDrop(v6("fd77::5", "2606:4700::1111"), laptop)).toBe("no_ipv6");
    expect(stack.sessionFor(v6("2606:4700::1111", "fd77::5"))).toBe("no_session");
    expect(stack.upstreamDrop(v4("10.77.0.5", "8.8.8.8"), laptop)).toBeUndefined();
  });
});

describe("a small IPv6 prefix beside a large IPv4 pool", () => {
  const { stack, session } = exitWith(new Ipv6Pool(parsePrefix6("2001:db8:77::/120", true)));

  it("gives IPv6 to the sessions whose index it covers, and IPv4 only to the rest", () => {
    const inside = session("10.77.0.255");
    const past = session("10.77.1.0");
    expect(stack.welcome(inside)?.address).toBe("2001:db8:77::ff");
    expect(stack.welcome(past)).toBeUndefined();
    expect(stack.upstreamDrop(v6("2001:db8:77::100", "2606:4700::1111"), past)).toBe("no_ipv6");
  });
});
