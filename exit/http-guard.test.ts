import { describe, expect, it } from "vitest";
import { parseCidrList } from "./egress-guard.js";
import { maxConnections, metricsAllowed, tunnelOriginAllowed } from "./http-guard.js";

describe("who may read /metrics", () => {
  const own = () => ["203.0.113.1", "198.51.100.1"];

  it.each([
    "127.0.0.1",
    "::1",
    "::ffff:127.0.0.1",
    "10.1.2.3",
    "172.17.0.1",
    "192.168.1.10",
    "100.64.0.9",
    "169.254.1.1",
    "fd00::5",
    "fe80::1",
    "203.0.113.1",
    "::ffff:198.51.100.1",
  ])("lets %s (this machine or a private network) read it", (remote) => {
    expect(metricsAllowed(remote, [], own)).toBe(true);
  });

  it.each(["203.0.113.2", "8.8.8.8", "2001:db8::1", "::ffff:1.2.3.4", "", undefined])(
    "refuses %s (the internet)",
    (remote) => {
      expect(metricsAllowed(remote, [], own)).toBe(false);
    },
  );

  it("lets an allow-listed range, or anyone with 'any', read it", () => {
    expect(metricsAllowed("8.8.8.8", parseCidrList("8.8.8.0/24"), own)).toBe(true);
    expect(metricsAllowed("8.8.9.8", parseCidrList("8.8.8.0/24"), own)).toBe(false);
    expect(metricsAllowed("8.8.9.8", "any", own)).toBe(true);
  });
});

describe("the HTTP server's connection bound", () => {
  it("leaves room for every session, every handshake and some page loads", () => {
    expect(maxConnections({ maxSessions: 1024, maxHandshakes: 64 })).toBe(1024 + 64 + 1024);
  });
});

describe("which pages may open the exit's /tunnel", () => {
  it("lets the exit's own app (its Origin names the host asked) and clients without an Origin in", () => {
    expect(tunnelOriginAllowed("https://exit.example.com", "exit.example.com")).toBe(true);
    expect(tunnelOriginAllowed("https://Exit.Example.com:8443", "exit.example.com:8443")).toBe(true);
    expect(tunnelOriginAllowed("https://198.51.100.1:8443", "198.51.100.1:8443")).toBe(true);
    expect(tunnelOriginAllowed("https://[2001:db8::1]:8443", "[2001:db8::1]:8443")).toBe(true);
    expect(tunnelOriginAllowed(undefined, "exit.example.com")).toBe(true); // not a browser
    expect(tunnelOriginAllowed("https://exit.example.com", "127.0.0.1:8080", ["exit.example.com"])).toBe(
      true,
    );
  });

  it.each([
    ["https://evil.example", "exit.example.com"],
    ["https://exit.example.com.evil.example", "exit.example.com"],
    ["null", "exit.example.com"], // a sandboxed frame or a file
    ["file:///tmp/page.html", "exit.example.com"],
    ["not a url", "exit.example.com"],
    ["https://exit.example.com", undefined],
    ["https://exit.example.com", "bad host header/"],
  ])("refuses a page at %s asking %s", (origin, host) => {
    expect(tunnelOriginAllowed(origin, host)).toBe(false);
  });
});
