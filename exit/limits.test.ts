import { describe, expect, it } from "vitest";
import {
  AccessLimits,
  type Admission,
  EXIT_LIMITS,
  type ExitLimits,
  MAX_TRACKED_SOURCES,
  oldestDetached,
  sourceKey,
} from "./limits.js";

function limitsAt(overrides: Partial<ExitLimits> = {}) {
  const clock = { now: 0 };
  const limits = new AccessLimits({ ...EXIT_LIMITS, ...overrides }, () => clock.now);
  return { limits, clock };
}

function admitted(result: Admission | string): Admission {
  if (typeof result === "string") throw new Error(`refused: ${result}`);
  return result;
}

describe("access limits at the exit", () => {
  it("refuses a source with RATE_LIMITED once its failed handshakes use up the burst", () => {
    const { limits, clock } = limitsAt({ failedHandshakeBurst: 3, failedHandshakeIntervalMs: 1000 });
    for (let i = 0; i < 3; i++) admitted(limits.admit("203.0.113.9")).done(false);
    expect(limits.admit("203.0.113.9")).toBe("RATE_LIMITED");
    expect(typeof limits.admit("203.0.113.10")).toBe("object"); // another source is not affected
    clock.now += 999;
    expect(limits.admit("203.0.113.9")).toBe("RATE_LIMITED");
    clock.now += 1;
    admitted(limits.admit("203.0.113.9")).done(false);
    expect(limits.admit("203.0.113.9")).toBe("RATE_LIMITED");
  });

  it("does not charge a source for a handshake that succeeded", () => {
    const { limits } = limitsAt({ failedHandshakeBurst: 1 });
    for (let i = 0; i < 5; i++) admitted(limits.admit("198.51.100.7")).done(true);
    expect(typeof limits.admit("198.51.100.7")).toBe("object");
  });

  it("counts an IPv4-mapped address as its IPv4 address, and IPv6 per /64", () => {
    const { limits } = limitsAt({ failedHandshakeBurst: 1 });
    admitted(limits.admit("::ffff:203.0.113.9")).done(false);
    expect(limits.admit("203.0.113.9")).toBe("RATE_LIMITED");
    admitted(limits.admit("2001:db8:1:2::1")).done(false);
    expect(limits.admit("2001:db8:1:2:ffff::99")).toBe("RATE_LIMITED");
    expect(typeof limits.admit("2001:db8:1:3::1")).toBe("object");
    expect(sourceKey("2001:DB8:0:0:1::1")).toBe("2001:db8:0:0::/64");
    expect(sourceKey("::1")).toBe("0:0:0:0::/64");
  });

  it("holds at most maxHandshakes handshakes at once, and frees a slot once (done twice is harmless)", () => {
    const { limits } = limitsAt({ maxHandshakes: 2 });
    const first = admitted(limits.admit("a"));
    admitted(limits.admit("b"));
    expect(limits.admit("c")).toBe("EXIT_BUSY");
    first.done(true);
    first.done(true);
    expect(limits.handshaking).toBe(1);
    admitted(limits.admit("c"));
    expect(limits.admit("d")).toBe("EXIT_BUSY");
  });

  it("refuses a session past the total or the per-key limit", () => {
    const { limits } = limitsAt({ maxSessions: 3, maxSessionsPerKey: 2 });
    const admission = admitted(limits.admit("a"));
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
    for (let i = 0; i <= MAX_TRACKED_SOURCES; i++) admitted(limits.admit(`src-${i}`)).done(false);
    expect(limits.trackedSources).toBe(MAX_TRACKED_SOURCES);
    expect(typeof limits.admit("src-0")).toBe("object");
    expect(limits.admit(`src-${MAX_TRACKED_SOURCES}`)).toBe("RATE_LIMITED");
  });
});
