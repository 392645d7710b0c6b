import { describe, expect, it } from "vitest";
import { MIN_SESSION_BURST_BYTES, parseMegabits, SessionRateLimiter, TokenBucket } from "./rate-limit.js";

describe("a token bucket", () => {
  it("lets a full burst through at once, then only what the rate adds", () => {
    const bucket = new TokenBucket(10, 5, 0);
    for (let i = 0; i < 5; i++) expect(bucket.take(1, 0)).toBe(true);
    expect(bucket.take(1, 0)).toBe(false);
    expect(bucket.take(1, 99)).toBe(false);
    expect(bucket.take(1, 100)).toBe(true);
    expect(bucket.full(10_000)).toBe(true);
  });

  it("takes nothing when it cannot take all", () => {
    const bucket = new TokenBucket(1, 3, 0);
    expect(bucket.take(4, 0)).toBe(false);
    expect(bucket.take(3, 0)).toBe(true);
  });

  it("does not go back in time when the clock does", () => {
    const bucket = new TokenBucket(1000, 1, 1000);
    expect(bucket.take(1, 1000)).toBe(true);
    expect(bucket.take(1, 500)).toBe(false);
  });
});

describe("the per-session rate limit", () => {
  it("holds each session and direction to the rate, after a burst", () => {
    const limiter = new SessionRateLimiter(8); // 1 MB/s
    const a = {};
    const b = {};
    let passed = 0;
    for (let ms = 0; ms <= 1000; ms += 1) {
      if (limiter.allow(a, "up", 1000, ms)) passed += 1000;
    }
    // One second at 1 MB/s plus the burst (100 ms at that rate, 100 kB).
    expect(passed).toBeGreaterThanOrEqual(1_000_000);
    expect(passed).toBeLessThanOrEqual(1_000_000 + 100_000 + 1000);
    expect(limiter.allow(a, "down", 1000, 1000)).toBe(true);
    expect(limiter.allow(b, "up", 1000, 1000)).toBe(true);
  });

  it("gives a low limit a burst of at least a few packets", () => {
    const limiter = new SessionRateLimiter(0.1);
    const session = {};
    expect(limiter.allow(session, "up", MIN_SESSION_BURST_BYTES, 0)).toBe(true);
    expect(limiter.allow(session, "up", 1500, 0)).toBe(false);
  });

  it("parses megabits per second", () => {
    expect(parseMegabits("20")).toBe(20);
    expect(parseMegabits("0.5")).toBe(0.5);
    for (const bad of ["", "0", "-1", "fast", "Infinity"]) expect(parseMegabits(bad)).toBeUndefined();
  });
});
