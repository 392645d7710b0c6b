import { describe, expect, it } from "vitest";
import {
  AccessLimits,
  type Admission,
  type AdmissionRefusal,
  EXIT_LIMITS,
  type ExitLimits,
  MAX_CONNECTIONS_PER_SOURCE,
  MAX_HANDSHAKES_PER_SOURCE,
  MAX_TRACKED_SOURCES,
  oldestDetached,
} from "./limits.js";

function limitsAt(overrides: Partial<ExitLimits> = {}) {
  const clock = { now: 0 };
  const limits = new AccessLimits({ ...EXIT_LIMITS, ...overrides }, () => clock.now);
  return { limits, clock };
}

function admitted(result: Admission | AdmissionRefusal): Admission {
  if ("code" in result) throw new Error(`refused: ${result.code} (${result.reason})`);
  return result;
}

/** The code a connection was refused with, or "admitted". */
function verdict(result: Admission | AdmissionRefusal): string {
  return "code" in result ? result.code : "admitted";
}

describe("access limits at the exit", () => {
  it("refuses a source with RATE_LIMITED once its failed handshakes use up the burst", () => {
    const { limits, clock } = limitsAt({ failedHandshakeBurst: 3, failedHandshakeIntervalMs: 1000 });
    for (let i = 0; i < 3; i++) admitted(limits.admit("203.0.113.9")).done(false);
    expect(verdict(limits.admit("203.0.113.9"))).toBe("RATE_LIMITED");
    expect(verdict(limits.admit("203.0.113.10"))).toBe("admitted"); // another source is not affected
    clock.now += 999;
    expect(verdict(limits.admit("203.0.113.9"))).toBe("RATE_LIMITED");
    clock.now += 1;
    admitted(limits.admit("203.0.113.9")).done(false);
    expect(verdict(limits.admit("203.0.113.9"))).toBe("RATE_LIMITED");
  });

  it("does not charge a source for a handshake that succeeded", () => {
    const { limits } = limitsAt({ failedHandshakeBurst: 1 });
    for (let i = 0; i < 5; i++) admitted(limits.admit("198.51.100.7")).done(true);
    expect(verdict(limits.admit("198.51.100.7"))).toBe("admitted");
  });

  it("counts an IPv4-mapped address as its IPv4 address, and IPv6 per /64", () => {
    const { limits } = limitsAt({ failedHandshakeBurst: 1 });
    admitted(limits.admit("::ffff:203.0.113.9")).done(false);
    expect(verdict(limits.admit("203.0.113.9"))).toBe("RATE_LIMITED");
    admitted(limits.admit("2001:db8:1:2::1")).done(false);
    expect(verdict(limits.admit("2001:db8:1:2:ffff::99"))).toBe("RATE_LIMITED");
    expect(verdict(limits.admit("2001:db8:1:3::1"))).toBe("admitted");
    expect(limits.admit("2001:db8:1:2:0:0:0:7")).toEqual({
      code: "RATE_LIMITED",
      reason: "failed_handshakes",
    });
  });

  it("holds at most maxHandshakes handshakes at once, and frees a slot once (done twice is harmless)", () => {
    const { limits } = limitsAt({ maxHandshakes: 2 });
    const first = admitted(limits.admit("192.0.2.1"));
    admitted(limits.admit("192.0.2.2"));
    expect(limits.admit("192.0.2.3")).toEqual({ code: "EXIT_BUSY", reason: "exit_handshakes" });
    first.done(true);
    first.done(true);
    expect(limits.handshaking).toBe(1);
    admitted(limits.admit("192.0.2.3"));
    expect(verdict(limits.admit("192.0.2.4"))).toBe("EXIT_BUSY");
  });

  it("refuses a session past the total or the per-key limit", () => {
    const { limits } = limitsAt({ maxSessions: 3, maxSessionsPerKey: 2 });
    const admission = admitted(limits.admit("192.0.2.1"));
    expect(admission.sessionRefusal("k1", [{ clientId: "k1" }])).toBeUndefined();
    expect(admission.sessionRefusal("k1", [{ clientId: "k1" }, { clientId: "k1" }])).toBe("SESSION_LIMIT");
    expect(admission.sessionRefusal("k2", [{ clientId: "k1" }, { clientId: "k1" }])).toBeUndefined();
    expect(admission.sessionRefusal("k2", [{ clientId: "k1" }, { clientId: "k1" }, { clientId: "k3" }])).toBe(
      "EXIT_BUSY",
    );
  });

  it("names a key's oldest detached session to give up, never an attached one or another key's", () => {
    const sessions = [
      { clientId: "k1", detachedAt: undefined, name: "attached" },
      { clientId: "k1", detachedAt: 200, name: "newer" },
      { clientId: "k1", detachedAt: 100, name: "older" },
      { clientId: "k2", detachedAt: 50, name: "other key" },
    ];
    expect(oldestDetached("k1", sessions)?.name).toBe("older");
    expect(oldestDetached("k3", sessions)).toBeUndefined();
    expect(oldestDetached("k1", [sessions[0]!])).toBeUndefined();
  });

  it("remembers at most MAX_TRACKED_SOURCES sources, forgetting the oldest", () => {
    const { limits } = limitsAt({ failedHandshakeBurst: 1 });
    const source = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    for (let i = 0; i <= MAX_TRACKED_SOURCES; i++) admitted(limits.admit(source(i))).done(false);
    expect(limits.trackedSources).toBe(MAX_TRACKED_SOURCES);
    expect(verdict(limits.admit(source(0)))).toBe("admitted");
    expect(verdict(limits.admit(source(MAX_TRACKED_SOURCES)))).toBe("RATE_LIMITED");
  });

  it("holds at most maxHandshakesPerSource handshakes from one source: another source still gets in", () => {
    const { limits } = limitsAt({ maxHandshakes: 4 * MAX_HANDSHAKES_PER_SOURCE });
    const held = Array.from({ length: MAX_HANDSHAKES_PER_SOURCE }, () =>
      admitted(limits.admit("203.0.113.7")),
    );
    expect(limits.admit("203.0.113.7")).toEqual({ code: "RATE_LIMITED", reason: "source_handshakes" });
    // Its /64 is one source for IPv6; another source is not touched by the flood.
    expect(verdict(limits.admit("198.51.100.8"))).toBe("admitted");
    expect(limits.handshakingFrom("203.0.113.7")).toBe(MAX_HANDSHAKES_PER_SOURCE);
    held[0]!.done(true);
    expect(verdict(limits.admit("203.0.113.7"))).toBe("admitted");
  });

  it("counts an IPv6 source's handshakes per /64", () => {
    const { limits } = limitsAt({ maxHandshakesPerSource: 2 });
    admitted(limits.admit("2001:db8:5:6::1"));
    admitted(limits.admit("2001:db8:5:6::2"));
    expect(verdict(limits.admit("2001:db8:5:6:aaaa::3"))).toBe("RATE_LIMITED");
    expect(verdict(limits.admit("2001:db8:5:7::1"))).toBe("admitted");
  });

  it("forgets a source once its handshakes are done", () => {
    const { limits } = limitsAt({ maxHandshakesPerSource: 1 });
    admitted(limits.admit("203.0.113.7")).done(true);
    expect(limits.handshakingFrom("203.0.113.7")).toBe(0);
    expect(verdict(limits.admit("203.0.113.7"))).toBe("admitted");
  });

  it("holds at most maxConnectionsPerSource connections from one source; another source still gets one", () => {
    const { limits } = limitsAt();
    const held = Array.from({ length: MAX_CONNECTIONS_PER_SOURCE }, () => limits.connection("203.0.113.7"));
    expect(held.every(Boolean)).toBe(true);
    expect(limits.connection("203.0.113.7")).toBeUndefined();
    expect(limits.connection("::ffff:203.0.113.7")).toBeUndefined(); // the same source, mapped
    expect(limits.connection("198.51.100.8")).toBeDefined();
    held[0]!.release();
    held[0]!.release(); // twice is harmless
    expect(limits.connection("203.0.113.7")).toBeDefined();
    expect(limits.connection("203.0.113.7")).toBeUndefined();
  });

  it("stays below the totals with its per-source defaults, so one source can never fill them", () => {
    expect(MAX_HANDSHAKES_PER_SOURCE).toBeLessThan(EXIT_LIMITS.maxHandshakes);
    expect(MAX_CONNECTIONS_PER_SOURCE).toBeLessThan(EXIT_LIMITS.maxSessions);
  });
});
