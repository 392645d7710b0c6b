import { describe, expect, it } from "vitest";
import { refusedTunnelAddress6 } from "./system-changes.js";

describe("which IPv6 address the TUN may take", () => {
  const local = ["2001:db8:43::2/64", "fe80::1/64"];

  it("takes a unique local or global unicast address off the laptop's own networks", () => {
    expect(refusedTunnelAddress6({ address: "fd77:1:2::2", prefixLength: 64 }, local)).toBeUndefined();
    expect(refusedTunnelAddress6({ address: "2001:db8:77::2", prefixLength: 128 }, local)).toBeUndefined();
  });

  it.each([
    ["the unspecified address", "::"],
    ["loopback", "::1"],
    ["multicast", "ff02::1"],
    ["link-local", "fe80::9"],
    ["an IPv4-mapped address", "::ffff:10.0.0.1"],
    ["no address at all", "fd77::/64"],
    ["an IPv4 address", "10.77.0.2"],
  ])("refuses %s with ROUTES6_BAD_ADDRESS", (_what, address) => {
    expect(refusedTunnelAddress6({ address, prefixLength: 64 }, local)?.code).toBe("ROUTES6_BAD_ADDRESS");
  });

  it("refuses an address on the laptop's own network with ROUTES6_LOCAL_NETWORK: it would cut that link", () => {
    const refusal = refusedTunnelAddress6({ address: "2001:db8:43::99", prefixLength: 128 }, local);
    expect(refusal?.code).toBe("ROUTES6_LOCAL_NETWORK");
    expect(refusal?.message).toContain("2001:db8:43::2/64");
  });
});
