import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_TIMEOUT_MS, Heartbeat } from "./heartbeat.js";

describe("the heartbeat", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("pings at once and then every interval, with increasing ids", () => {
    const pings: number[] = [];
    const beat = new Heartbeat({ ping: (id) => pings.push(id), dead: () => undefined });
    vi.advanceTimersByTime(0);
    expect(pings).toEqual([1]);
    beat.alive();
    vi.advanceTimersByTime(HEARTBEAT_INTERVAL_MS * 2);
    expect(pings).toEqual([1, 2, 3]);
    beat.stop();
  });

  it("declares a silent leg dead once, after the timeout", () => {
    let dead = 0;
    new Heartbeat({ ping: () => undefined, dead: () => dead++ });
    vi.advanceTimersByTime(HEARTBEAT_TIMEOUT_MS - 1);
    expect(dead).toBe(0);
    vi.advanceTimersByTime(1);
    expect(dead).toBe(1);
    vi.advanceTimersByTime(HEARTBEAT_TIMEOUT_MS * 5);
    expect(dead).toBe(1);
  });

  it("keeps a leg alive while anything arrives, and stops pinging once dead", () => {
    let dead = 0;
    const pings: number[] = [];
    const beat = new Heartbeat({ ping: (id) => pings.push(id), dead: () => dead++ });
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(HEARTBEAT_TIMEOUT_MS - 100);
      beat.alive();
    }
    expect(dead).toBe(0);
    vi.advanceTimersByTime(HEARTBEAT_TIMEOUT_MS);
    expect(dead).toBe(1);
    const count = pings.length;
    vi.advanceTimersByTime(HEARTBEAT_INTERVAL_MS * 5);
    expect(pings.length).toBe(count);
  });

  it("measures the round trip from the PONG's echoed timestamp", () => {
    const beat = new Heartbeat({ dead: () => undefined, now: () => 10_000 });
    beat.pong(9_958);
    expect(beat.rttMs).toBe(42);
    beat.stop();
  });

  it("only listens when it has no ping to send", () => {
    let dead = 0;
    new Heartbeat({ dead: () => dead++, intervalMs: 0 });
    vi.advanceTimersByTime(HEARTBEAT_TIMEOUT_MS);
    expect(dead).toBe(1);
  });
});
