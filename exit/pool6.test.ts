import { describe, expect, it } from "vitest";
import { formatIpv6, IpError, parseIpv6 } from "../protocol/ip.js";
import { PoolError } from "./pool.js";
import { Ipv6Pool, MAX_POOL6_ADDRESSES, parsePrefix6, randomUlaPrefix } from "./pool6.js";

function codeOf(action: () => unknown): string | undefined {
  try {
    action();
  } catch (error) {
    if (error instanceof IpError || error instanceof PoolError) return error.code;
    throw error;
  }
  return undefined;
}

describe("the IPv6 pool", () => {
  it("keeps ::1 of the prefix for the exit and hands out ::2, ::3 in turn", () => {
    const pool = new Ipv6Pool(parsePrefix6("fd77:1:2::/64"));
    expect(pool.gateway).toBe("fd77:1:2::1");
    expect(pool.cidr).toBe("fd77:1:2::/64");
    expect(pool.allocate()).toMatchObject({ text: "fd77:1:2::2", index: 2 });
    expect(pool.allocate()).toMatchObject({ text: "fd77:1:2::3", index: 3 });
  });

  it("finds a session's index from a packet's address, and nothing outside its part of the prefix", () => {
    const pool = new Ipv6Pool(parsePrefix6("2001:db8:7:1::/64", true));
    const lease = pool.allocate()!;
    expect(pool.indexOf(parseIpv6("2001:db8:7:1::2"))).toBe(lease.index);
    expect(pool.indexOf(parseIpv6("2001:db8:7:2::2"))).toBeUndefined();
    expect(pool.indexOf(parseIpv6("2001:db8:7:1:0:1::2"))).toBeUndefined(); // bytes 8-11 are the prefix's
    expect(pool.indexOf(parseIpv6("2001:db8:7:1::ffff:ffff"))).toBeUndefined(); // past MAX_POOL6_ADDRESSES
    expect(pool.contains(parseIpv6("2001:db8:7:1:abcd::9"))).toBe(true);
    expect(pool.contains(parseIpv6("2001:db8:7:2::9"))).toBe(false);
  });

  it("works the same for a long prefix whose last 32 bits are partly the prefix's", () => {
    const pool = new Ipv6Pool(parsePrefix6("2001:db8::ab:cd00/120"));
    expect(pool.gateway).toBe("2001:db8::ab:cd01");
    const lease = pool.allocate()!;
    expect(lease.text).toBe("2001:db8::ab:cd02");
    expect(pool.indexOf(lease.bytes)).toBe(2);
    expect(pool.indexOf(parseIpv6("2001:db8::ab:ce02"))).toBeUndefined();
    expect(pool.contains(parseIpv6("2001:db8::ab:cdff"))).toBe(true);
    expect(pool.contains(parseIpv6("2001:db8::ab:ce00"))).toBe(false);
    expect(pool.available).toBe(256 - 3);
  });

  it("runs out cleanly, and hands a freed address out again later", () => {
    const pool = new Ipv6Pool(parsePrefix6("fd00:9::/126")); // anycast, exit, two laptops
    const a = pool.allocate()!;
    const b = pool.allocate()!;
    expect([a.text, b.text]).toEqual(["fd00:9::2", "fd00:9::3"]);
    expect(pool.allocate()).toBeUndefined();
    pool.release(a);
    expect(pool.allocate()?.text).toBe("fd00:9::2");
  });

  it("never holds more than MAX_POOL6_ADDRESSES, however large the prefix", () => {
    const pool = new Ipv6Pool(parsePrefix6("fd00:1::/64"));
    expect(pool.available).toBe(MAX_POOL6_ADDRESSES - 2);
  });

  it("takes an IPv6 prefix from /64 to /126 and refuses anything else by code", () => {
    expect(parsePrefix6("fd77::/64")).toMatchObject({ length: 64, routed: false });
    expect(parsePrefix6("2001:db8::/64", true).routed).toBe(true);
    for (const [text, code] of [
      ["fd77::", "IP_BAD_PREFIX"],
      ["fd77::1/64", "IP_HOST_BITS"],
      ["fd77::g/64", "IP_BAD_ADDRESS"],
      ["10.77.0.0/16", "IP_WRONG_FAMILY"],
      ["2001:db8::/48", "POOL_SIZE"],
      ["fd77::/127", "POOL_SIZE"],
    ] as const) {
      expect(
        codeOf(() => parsePrefix6(text)),
        text,
      ).toBe(code);
    }
  });

  it("picks a unique-local /64 at random by default (fd00::/8, 40 random bits, subnet 0)", () => {
    const prefix = randomUlaPrefix(() => new Uint8Array([0x12, 0x34, 0x56, 0x78, 0x9a]));
    expect(`${formatIpv6(prefix.network)}/${prefix.length}`).toBe("fd12:3456:789a::/64");
    expect(prefix.routed).toBe(false);
    const a = randomUlaPrefix();
    const b = randomUlaPrefix();
    expect(a.network[0]).toBe(0xfd);
    expect(formatIpv6(a.network)).not.toBe(formatIpv6(b.network));
  });
});
