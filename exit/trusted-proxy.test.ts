import { describe, expect, it } from "vitest";
import { parseCidrList } from "../protocol/ip.js";
import { PROXY_V1_MAX_BYTES, PROXY_V2_MAX_BYTES, readProxyHeader, TrustedProxies } from "./trusted-proxy.js";

const text = (s: string) => new TextEncoder().encode(s);
const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

function v2(command: number, family: number, body: number[]): Uint8Array {
  return new Uint8Array([...SIGNATURE, command, family, body.length >> 8, body.length & 255, ...body]);
}

describe("which proxies are believed", () => {
  const proxies = new TrustedProxies(parseCidrList("10.0.0.0/8,fd00::/8", { bareAddress: true }));

  it("trusts only the configured ranges, IPv4-mapped addresses included", () => {
    expect(proxies.trusts("10.1.2.3")).toBe(true);
    expect(proxies.trusts("::ffff:10.1.2.3")).toBe(true);
    expect(proxies.trusts("fd00::7")).toBe(true);
    expect(proxies.trusts("203.0.113.9")).toBe(false);
    expect(proxies.trusts(undefined)).toBe(false);
    expect(new TrustedProxies().trusts("10.1.2.3")).toBe(false); // none configured: nobody
  });

  it("takes X-Forwarded-For's right-most entry that is not a trusted proxy", () => {
    expect(proxies.forwardedFor("198.51.100.7", "10.0.0.1")).toBe("198.51.100.7");
    // The client's own entries (left) are its say: never believed past the first untrusted hop.
    expect(proxies.forwardedFor("1.2.3.4, 198.51.100.7, 10.0.0.2", "10.0.0.1")).toBe("198.51.100.7");
    expect(proxies.forwardedFor(["1.2.3.4", "198.51.100.7"], "10.0.0.1")).toBe("198.51.100.7");
    expect(proxies.forwardedFor("[2001:db8::5]:4711", "10.0.0.1")).toBe("2001:db8::5");
    expect(proxies.forwardedFor("198.51.100.7:4711", "10.0.0.1")).toBe("198.51.100.7");
    expect(proxies.forwardedFor("::ffff:198.51.100.7", "10.0.0.1")).toBe("198.51.100.7");
  });

  it("falls back to the last trusted hop when the header is missing, empty or not addresses", () => {
    expect(proxies.forwardedFor(undefined, "10.0.0.1")).toBe("10.0.0.1");
    expect(proxies.forwardedFor("", "10.0.0.1")).toBe("10.0.0.1");
    expect(proxies.forwardedFor("unknown", "10.0.0.1")).toBe("10.0.0.1");
    expect(proxies.forwardedFor("198.51.100.7, garbage, 10.0.0.2", "10.0.0.1")).toBe("10.0.0.2");
    expect(proxies.forwardedFor("10.0.0.3, 10.0.0.2", "10.0.0.1")).toBe("10.0.0.3"); // all proxies
  });
});

describe("the PROXY protocol header", () => {
  it("reads a v1 header's source, and where the connection's own bytes begin", () => {
    const header = "PROXY TCP4 198.51.100.7 203.0.113.1 51234 443\r\n";
    expect(readProxyHeader(text(`${header}\x16\x03\x01`))).toEqual({
      kind: "header",
      bytes: header.length,
      source: "198.51.100.7",
    });
    expect(readProxyHeader(text("PROXY TCP6 2001:db8::5 2001:db8::1 51234 443\r\nGET"))).toMatchObject({
      source: "2001:db8::5",
    });
    expect(readProxyHeader(text("PROXY UNKNOWN\r\n"))).toEqual({
      kind: "header",
      bytes: 15,
      source: undefined,
    });
  });

  it("waits for more of a header that is not whole yet, and tells a connection without one", () => {
    expect(readProxyHeader(text("PRO"))).toEqual({ kind: "incomplete" });
    expect(readProxyHeader(text("PROXY TCP4 198.51"))).toEqual({ kind: "incomplete" });
    expect(readProxyHeader(new Uint8Array(SIGNATURE.slice(0, 5)))).toEqual({ kind: "incomplete" });
    expect(readProxyHeader(text("GET / HTTP/1.1\r\n"))).toEqual({ kind: "none" });
    expect(readProxyHeader(new Uint8Array([0x16, 0x03, 0x01]))).toEqual({ kind: "none" }); // a TLS hello
  });

  it.each([
    ["a line past 107 bytes", `PROXY TCP4 ${"1".repeat(PROXY_V1_MAX_BYTES)}`],
    ["no CR before LF", "PROXY TCP4 198.51.100.7 203.0.113.1 1 2\n"],
    ["a family that does not match", "PROXY TCP4 2001:db8::5 203.0.113.1 1 2\r\n"],
    ["a source that is not an address", "PROXY TCP4 198.51.100.777 203.0.113.1 1 2\r\n"],
    ["a port past 65535", "PROXY TCP4 198.51.100.7 203.0.113.1 65536 2\r\n"],
    ["a missing field", "PROXY TCP4 198.51.100.7 203.0.113.1 1\r\n"],
    ["an unknown family", "PROXY UDP4 198.51.100.7 203.0.113.1 1 2\r\n"],
  ])("refuses a v1 header with %s", (_what, header) => {
    expect(readProxyHeader(text(header)).kind).toBe("malformed");
  });

  it("reads a v2 header's IPv4 or IPv6 source, LOCAL as the proxy's own, and skips its TLVs", () => {
    const v4 = v2(
      0x21,
      0x11,
      [198, 51, 100, 7, 203, 0, 113, 1, 0xc8, 0x22, 0x01, 0xbb, 0x04, 0x00, 0x01, 0x00],
    );
    expect(readProxyHeader(new Uint8Array([...v4, 0x16]))).toEqual({
      kind: "header",
      bytes: v4.length,
      source: "198.51.100.7",
    });
    const address6 = [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 5];
    const v6 = v2(0x21, 0x21, [...address6, ...new Array(16).fill(0), 0, 1, 0, 2]);
    expect(readProxyHeader(v6)).toMatchObject({ source: "2001:db8::5" });
    expect(readProxyHeader(v2(0x20, 0x00, []))).toEqual({ kind: "header", bytes: 16, source: undefined });
    expect(readProxyHeader(v4.slice(0, 20))).toEqual({ kind: "incomplete" });
  });

  it("refuses a v2 header with another version or command, short addresses, or past its bound", () => {
    expect(readProxyHeader(v2(0x11, 0x11, new Array(12).fill(0))).kind).toBe("malformed");
    expect(readProxyHeader(v2(0x21, 0x11, [1, 2, 3])).kind).toBe("malformed");
    expect(readProxyHeader(v2(0x21, 0x21, new Array(12).fill(0))).kind).toBe("malformed");
    expect(readProxyHeader(v2(0x21, 0x11, new Array(PROXY_V2_MAX_BYTES).fill(0))).kind).toBe("malformed");
  });
});
