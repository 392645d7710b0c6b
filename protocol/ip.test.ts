import { isIPv4, isIPv6 } from "node:net";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  cidrContains,
  formatCidr,
  formatIp,
  formatIpv4,
  formatIpv6,
  type IpErrorCode,
  ipv4CidrContains,
  isIpv4Address,
  isIpv6Address,
  parseCidr,
  parseCidrList,
  parseIp,
  parseIpv4,
  parseIpv4Cidr,
  parseIpv6,
  sourceKey,
  tryParseIpv4,
  unmapIpv4,
} from "./ip.js";

function codeOf(run: () => unknown): IpErrorCode | "none" {
  try {
    run();
  } catch (error) {
    return (error as { code: IpErrorCode }).code;
  }
  return "none";
}

const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const v6 = fc.uint8Array({ minLength: 16, maxLength: 16 });

/** Every group written out in full, the least canonical text of an address. */
function longForm(bytes: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(hex(bytes.subarray(i, i + 2)));
  return groups.join(":");
}

describe("IPv4 addresses", () => {
  it("reads dotted decimal as an unsigned 32-bit number and writes it back", () => {
    expect(parseIpv4("10.64.0.2")).toBe(0x0a400002);
    expect(parseIpv4("255.255.255.255")).toBe(0xffffffff);
    expect(parseIpv4("0.0.0.0")).toBe(0);
    expect(formatIpv4(0xc0a80001)).toBe("192.168.0.1");
  });

  it.each([
    ["010.1.1.1", "leading zero"],
    ["1.1.1.01", "leading zero"],
    ["256.1.1.1", "over 255"],
    ["1.1.1.1000", "over 255"],
    ["1.1.1", "four parts"],
    ["1.1.1.1.1", "four parts"],
    ["1..1.1", "empty part"],
    ["1.1.1.1 ", "not a decimal"],
    ["+1.1.1.1", "not a decimal"],
    ["0x7f.0.0.1", "not a decimal"],
    ["", "four parts"],
  ])("refuses %j with IP_BAD_ADDRESS, saying why", (text, why) => {
    expect(codeOf(() => parseIpv4(text))).toBe("IP_BAD_ADDRESS");
    expect(() => parseIpv4(text)).toThrow(why);
    expect(tryParseIpv4(text)).toBeUndefined();
  });

  it("refuses an IPv6 address with IP_WRONG_FAMILY", () => {
    expect(codeOf(() => parseIpv4("::1"))).toBe("IP_WRONG_FAMILY");
  });

  it("round-trips every 32-bit number", () => {
    fc.assert(fc.property(u32, (n) => parseIpv4(formatIpv4(n)) === n));
  });

  it("agrees with Node's isIPv4 on strings made of digits and dots", () => {
    const text = fc.string({ unit: fc.constantFrom("0", "1", "2", "5", "9", "."), maxLength: 16 });
    fc.assert(
      fc.property(text, (s) => isIpv4Address(s) === isIPv4(s)),
      { numRuns: 5000 },
    );
  });
});

describe("IPv6 addresses", () => {
  it.each([
    ["::", "00000000000000000000000000000000"],
    ["::1", "00000000000000000000000000000001"],
    ["2001:db8::1", "20010db8000000000000000000000001"],
    ["2001:DB8:0:0:1:0:0:1", "20010db8000000000001000000000001"],
    ["fe80::", "fe800000000000000000000000000000"],
    ["::ffff:192.0.2.1", "00000000000000000000ffffc0000201"],
    ["1:2:3:4:5:6:7:8", "00010002000300040005000600070008"],
    ["1:2:3:4:5:6:1.2.3.4", "00010002000300040005000601020304"],
  ])("reads %j", (text, bytes) => {
    expect(hex(parseIpv6(text))).toBe(bytes);
  });

  it.each([
    "1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:8:9",
    "1::2::3",
    "12345::",
    "g::1",
    ":1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:",
    "::ffff:010.0.0.1",
    "::1.2.3.4:1",
    "1:2:3:4:5:6:7::8",
    "fe80::1%eth0",
    "[::1]",
    "",
  ])("refuses %j with IP_BAD_ADDRESS", (text) => {
    expect(codeOf(() => parseIpv6(text))).toBe("IP_BAD_ADDRESS");
  });

  it("refuses an IPv4 address with IP_WRONG_FAMILY", () => {
    expect(codeOf(() => parseIpv6("10.0.0.1"))).toBe("IP_WRONG_FAMILY");
  });

  it.each([
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // one zero group stays a 0 (RFC 5952 4.2.2)
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // the longest run is compressed (4.2.3)
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // the first of equal runs (4.2.3)
    ["ABCD::EF", "abcd::ef"], // lowercase (4.3)
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:ffff:c000:0201", "::ffff:192.0.2.1"], // IPv4-mapped with a dotted tail (5)
  ])("writes %j as %j (RFC 5952)", (text, canonical) => {
    expect(formatIpv6(parseIpv6(text))).toBe(canonical);
  });

  it("round-trips any 16 bytes, through the canonical and the long form alike", () => {
    fc.assert(
      fc.property(v6, (bytes) => {
        expect(parseIpv6(formatIpv6(bytes))).toEqual(bytes);
        expect(parseIpv6(longForm(bytes))).toEqual(bytes);
        expect(parseIpv6(longForm(bytes).toUpperCase())).toEqual(bytes);
      }),
    );
  });

  it("writes what the WHATWG URL serializer writes, outside the IPv4-mapped range", () => {
    // Zero-heavy bytes, so runs of zero groups of every length and position come up.
    const group = fc.oneof(
      fc.constant([0, 0]),
      fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 })),
    );
    const bytes = fc.array(group, { minLength: 8, maxLength: 8 }).map((g) => new Uint8Array(g.flat()));
    fc.assert(
      fc.property(bytes, (b) => {
        fc.pre(!isMapped(b));
        const url = new URL(`http://[${longForm(b)}]/`).hostname.slice(1, -1);
        expect(formatIpv6(b)).toBe(url);
      }),
      { numRuns: 2000 },
    );
  });

  it("accepts what Node's isIPv6 accepts, zone indexes aside, and the other way round", () => {
    const text = fc.string({
      unit: fc.constantFrom("0", "1", "a", "F", ":", ":", ".", "2", "5"),
      maxLength: 24,
    });
    fc.assert(
      fc.property(text, (s) => isIpv6Address(s) === isIPv6(s)),
      { numRuns: 5000 },
    );
  });
});

describe("either family", () => {
  it("picks the family from the text and writes it back", () => {
    expect(parseIp("10.0.0.1")).toEqual({ family: 4, value: 0x0a000001 });
    expect(formatIp(parseIp("2001:DB8::0001"))).toBe("2001:db8::1");
    expect(codeOf(() => parseIp("010.0.0.1"))).toBe("IP_BAD_ADDRESS");
    expect(codeOf(() => parseIp("example.com"))).toBe("IP_BAD_ADDRESS");
  });

  it("unmaps an IPv4-mapped address and leaves others alone", () => {
    expect(unmapIpv4(parseIp("::ffff:10.1.2.3"))).toEqual({ family: 4, value: 0x0a010203 });
    expect(formatIp(unmapIpv4(parseIp("::1")))).toBe("::1");
  });
});

describe("prefixes", () => {
  it("reads IPv4 and IPv6 prefixes and writes them back", () => {
    expect(parseCidr("192.168.1.0/24")).toEqual({
      family: 4,
      network: 0xc0a80100,
      mask: 0xffffff00,
      length: 24,
    });
    expect(parseCidr("0.0.0.0/0")).toEqual({ family: 4, network: 0, mask: 0, length: 0 });
    expect(formatCidr(parseCidr("2001:DB8::/32"))).toBe("2001:db8::/32");
    expect(formatCidr(parseCidr("::/0"))).toBe("::/0");
  });

  it("takes a bare address as a host prefix only when asked to", () => {
    expect(parseCidr("1.2.3.4", { bareAddress: true })).toMatchObject({ length: 32, mask: 0xffffffff });
    expect(parseCidr("::1", { bareAddress: true })).toMatchObject({ length: 128 });
    expect(codeOf(() => parseCidr("1.2.3.4"))).toBe("IP_BAD_PREFIX");
  });

  it.each([
    ["1.2.3.4/33", "IP_BAD_PREFIX"],
    ["1.2.3.0/", "IP_BAD_PREFIX"],
    ["1.2.3.0/08", "IP_BAD_PREFIX"],
    ["1.2.3.0/-1", "IP_BAD_PREFIX"],
    ["1.2.3.0/24/9", "IP_BAD_PREFIX"],
    ["1.2.3.0/ 24", "IP_BAD_PREFIX"],
    ["::/129", "IP_BAD_PREFIX"],
    ["1.2.3/8", "IP_BAD_ADDRESS"],
    ["010.0.0.0/8", "IP_BAD_ADDRESS"],
    ["x/8", "IP_BAD_ADDRESS"],
    ["10.0.0.1/8", "IP_HOST_BITS"],
    ["192.168.1.77/24", "IP_HOST_BITS"],
    ["2001:db8::1/64", "IP_HOST_BITS"],
    ["fe80::/8", "IP_HOST_BITS"],
  ] as const)("refuses %j with %s", (text, code) => {
    expect(codeOf(() => parseCidr(text))).toBe(code);
  });

  it("names the prefix meant when host bits are set", () => {
    expect(() => parseCidr("10.0.0.1/8")).toThrow("10.0.0.0/8");
  });

  it("refuses the other family when one is asked for", () => {
    expect(codeOf(() => parseIpv4Cidr("fe80::/10"))).toBe("IP_WRONG_FAMILY");
    expect(codeOf(() => parseCidr("10.0.0.0/8", { family: 6 }))).toBe("IP_WRONG_FAMILY");
  });

  it("reads a comma-separated list, spaces and empty items allowed", () => {
    expect(parseCidrList(" 10.20.0.0/16, ,2001:db8::/32 ").map(formatCidr)).toEqual([
      "10.20.0.0/16",
      "2001:db8::/32",
    ]);
    expect(parseCidrList("")).toEqual([]);
  });

  it("contains exactly the IPv4 addresses that share its first length bits", () => {
    fc.assert(
      fc.property(u32, fc.integer({ min: 0, max: 32 }), u32, (base, length, address) => {
        const shift = 32 - length;
        const network = length === 0 ? 0 : ((base >>> shift) << shift) >>> 0;
        const cidr = parseIpv4Cidr(`${formatIpv4(network)}/${length}`);
        const expected = length === 0 || address >>> shift === network >>> shift;
        expect(ipv4CidrContains(cidr, address)).toBe(expected);
        expect(cidrContains(cidr, { family: 4, value: address })).toBe(expected);
        expect(ipv4CidrContains(cidr, network)).toBe(true);
      }),
    );
  });

  it("contains exactly the IPv6 addresses that share its first length bits", () => {
    const big = (b: Uint8Array) => BigInt(`0x${hex(b)}`);
    fc.assert(
      fc.property(v6, fc.integer({ min: 0, max: 128 }), v6, fc.boolean(), (base, length, other, near) => {
        const shift = BigInt(128 - length);
        const network = (big(base) >> shift) << shift;
        const text = network.toString(16).padStart(32, "0");
        const cidr = parseCidr(
          `${longForm(Uint8Array.from(text.match(/../g)!, (h) => Number.parseInt(h, 16)))}/${length}`,
        );
        // Half the time an address inside (the network with random host bits), else any address.
        const hostBits = length === 128 ? 0n : big(other) & ((1n << shift) - 1n);
        const candidate = near ? network | hostBits : big(other);
        const bytes = Uint8Array.from(candidate.toString(16).padStart(32, "0").match(/../g)!, (h) =>
          Number.parseInt(h, 16),
        );
        expect(cidrContains(cidr, { family: 6, bytes })).toBe(candidate >> shift === network >> shift);
      }),
    );
  });

  it("never contains an address of the other family", () => {
    expect(cidrContains(parseCidr("0.0.0.0/0"), parseIp("::1"))).toBe(false);
    expect(cidrContains(parseCidr("::/0"), parseIp("10.0.0.1"))).toBe(false);
  });
});

describe("per-source keys", () => {
  it("keys an IPv4 peer by its address, an IPv4-mapped one too", () => {
    expect(sourceKey("198.51.100.7")).toBe("198.51.100.7");
    expect(sourceKey("::ffff:198.51.100.7")).toBe("198.51.100.7");
  });

  it("keys an IPv6 peer by its /64, a zone index dropped", () => {
    expect(sourceKey("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(sourceKey("fe80::1%eth0")).toBe("fe80::/64");
  });

  it("has no key for what is not an address", () => {
    expect(sourceKey(undefined)).toBeUndefined();
    expect(sourceKey("example.com")).toBeUndefined();
  });

  it("gives two IPv6 peers the same key exactly when their first 64 bits agree", () => {
    fc.assert(
      fc.property(v6, v6, fc.boolean(), (a, b, sameHigh) => {
        const c = new Uint8Array(sameHigh ? [...a.subarray(0, 8), ...b.subarray(8)] : b);
        fc.pre(!isMapped(a) && !isMapped(c));
        const same = hex(a.subarray(0, 8)) === hex(c.subarray(0, 8));
        expect(sourceKey(formatIpv6(a)) === sourceKey(formatIpv6(c))).toBe(same);
      }),
    );
  });
});

function isMapped(b: Uint8Array): boolean {
  return formatIpv6(b).startsWith("::ffff:") && formatIpv6(b).includes(".");
}
