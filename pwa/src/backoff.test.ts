import { describe, expect, it } from "vitest";
import { BACKOFF_INITIAL_MS, BACKOFF_JITTER, BACKOFF_MAX_MS, Backoff } from "./backoff.js";

describe("the redial backoff", () => {
  it("doubles from the initial wait up to the cap (no jitter at the midpoint)", () => {
    const backoff = new Backoff(() => 0.5);
    const waits = Array.from({ length: 8 }, () => backoff.next());
    expect(waits).toEqual([200, 400, 800, 1600, 3200, BACKOFF_MAX_MS, BACKOFF_MAX_MS, BACKOFF_MAX_MS]);
  });

  it("starts over after a success", () => {
    const backoff = new Backoff(() => 0.5);
    backoff.next();
    backoff.next();
    backoff.reset();
    expect(backoff.next()).toBe(BACKOFF_INITIAL_MS);
  });

  it("spreads each wait by the jitter, never beyond it", () => {
    const low = new Backoff(() => 0).next();
    const high = new Backoff(() => 0.999_999).next();
    expect(low).toBe(BACKOFF_INITIAL_MS * (1 - BACKOFF_JITTER));
    expect(high).toBeLessThanOrEqual(BACKOFF_INITIAL_MS * (1 + BACKOFF_JITTER));
    expect(high).toBeGreaterThan(BACKOFF_INITIAL_MS);
  });
});
