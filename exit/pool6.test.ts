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
  it("keeps ::1 of the prefix for the exit and gives index n the address ::n", () => {
    const pool = new Ipv6Pool(parsePrefix6("fd77:1:2::/64"));
    expect(pool.gateway).toBe("fd77:1:2::1");
    expect(pool.cidr).toBe("fd77:1:2::/64");
    expect(pool.addressFor(2)?.text).toBe("fd77:1:2::2");
    expect(pool.addressFor(0x1_0005)?.text).toBe("fd77:1:2::1:5");
    expect(pool.addressFor(0)).toBeUndefined(); // the subnet-router anycast address
    expect(pool.addressFor(1)).toBeUndefined(); // the exit's
  });

  it("finds the index back from a packet's address, and nothing outside its part of the prefix", () => {
    const pool = new Ipv6Pool(parsePrefix6("2001:db8:7:1::/64", true));
    expect(pool.indexOf(pool.addressFor(77)!.bytes)).toBe(77);
    expect(pool.indexOf(parseIpv6("2001:db8:7:1::2"))).toBe(2);
    expect(pool.indexOf(parseIpv6("2001:db8:7:1::1"))).toBeUndefined(); // the exit is no session
    expect(pool.indexOf(parseIpv6("2001:db8:7:2::2"))).toBeUndefined();
    expect(pool.indexOf(parseIpv6("2001:db8:7:1:0:1::2"))).toBeUndefined(); // bytes 8-11 are the prefix's
    expect(pool.indexOf(parseIpv6("2001:db8:7:1::ffff:ffff"))).toBeUndefined(); // past MAX_POOL6_ADDRESSES
    expect(pool.contains(parseIpv6("2001:db8:7:1:abcd::9"))).toBe(true);
    expect(pool.contains(parseIpv6("2001:db8:7:2::9"))).toBe(false);
  });

  it("works the same for a long prefix whose last 32 bits are partly the prefix's", () => {
    const pool = new Ipv6Pool(parsePrefix6("2001:db8::ab:cd00/120"));
    expect(pool.gateway).toBe("2001:db8::ab:cd01");
    const address = pool.addressFor(2)!;
    expect(address.text).toBe("2001:db8::ab:cd02");
    expect(pool.indexOf(address.bytes)).toBe(2);
    expect(pool.indexOf(parseIpv6("2001:db8::ab:ce02"))).toBeUndefined();
    expect(pool.contains(parseIpv6("2001:db8::ab:cdff"))).toBe(true);
    expect(pool.contains(parseIpv6("2001:db8::ab:ce00"))).toBe(false);
  });

  it("has no address for an index past a small prefix's end (that session gets IPv4 only)", () => {
    const pool = new Ipv6Pool(parsePrefix6("fd00:9::/126")); // anycast, exit, ::2 and ::3
    expect(pool.addressFor(3)?.text).toBe("fd00:9::3");
    expect(pool.addressFor(4)).toBeUndefined();
  });

  it("covers as many indexes as the largest IPv4 pool, however large the prefix", () => {
    const pool = new Ipv6Pool(parsePrefix6("fd00:1::/64"));
    expect(pool.size).toBe(MAX_POOL6_ADDRESSES);
    expect(pool.addressFor(MAX_POOL6_ADDRESSES - 1)).toBeDefined();
    expect(pool.addressFor(MAX_POOL6_ADDRESSES)).toBeUndefined();
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
