import { describe, expect, it } from "vitest";
import { planIpv6 } from "./ipv6-plan.js";
import { PoolError } from "./pool.js";

describe("the exit's IPv6 plan", () => {
  it("is a random unique-local /64 by default, masqueraded", () => {
    const plan = planIpv6({ mtu: 1400 });
    if (!("pool" in plan)) throw new Error(`no IPv6: ${plan.off}`);
    expect(plan.pool.cidr).toMatch(/^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::\/64$/);
    expect(plan.routed).toBe(false);
  });

  it("takes the operator's prefix, routed only when they say so", () => {
    expect(planIpv6({ mtu: 1400, pool6: "2001:db8:77::/64", pool6Routed: true })).toMatchObject({
      routed: true,
    });
    const plan = planIpv6({ mtu: 1400, pool6: "fd00:77::/64" });
    expect("pool" in plan && plan.pool.gateway).toBe("fd00:77::1");
  });

  it("is off when asked, or when the tunnel MTU is under 1280, and says why", () => {
    expect(planIpv6({ mtu: 1400, pool6: "off" })).toEqual({ off: "--pool6 off" });
    expect(planIpv6({ mtu: 1279 })).toEqual({ off: "--mtu 1279 is under IPv6's minimum of 1280" });
    expect("pool" in planIpv6({ mtu: 1280 })).toBe(true);
  });

  it("refuses a prefix the pool cannot use by the pool's code", () => {
    expect(() => planIpv6({ mtu: 1400, pool6: "2001:db8::/48" })).toThrow(PoolError);
  });
});
