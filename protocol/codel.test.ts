import { describe, expect, it } from "vitest";
import { CODEL_INTERVAL_MS, CODEL_TARGET_MS, CoDel } from "./codel.js";

describe("CoDel on a tunnel's send queue", () => {
  it("never drops while frames wait less than the target", () => {
    const codel = new CoDel();
    for (let now = 0; now < 10_000; now += 1) {
      codel.observe(CODEL_TARGET_MS - 1, now);
      expect(codel.shouldDrop(now)).toBe(false);
    }
  });

  it("tolerates a burst shorter than an interval", () => {
    const codel = new CoDel();
    for (let now = 0; now < CODEL_INTERVAL_MS; now += 1) {
      codel.observe(50, now);
      expect(codel.shouldDrop(now)).toBe(false);
    }
    codel.observe(1, CODEL_INTERVAL_MS);
    expect(codel.shouldDrop(CODEL_INTERVAL_MS + 1)).toBe(false);
  });

  it("starts dropping once the delay stayed above target for an interval, ever closer together", () => {
    const codel = new CoDel();
    const dropsAt: number[] = [];
    for (let now = 0; now < 1_000; now += 1) {
      codel.observe(20, now);
      if (codel.shouldDrop(now)) dropsAt.push(now);
    }
    expect(dropsAt[0]).toBe(CODEL_INTERVAL_MS);
    const gaps = dropsAt.slice(1).map((at, i) => at - dropsAt[i]!);
    expect(gaps[0]).toBeGreaterThan(gaps[gaps.length - 1]!);
    expect(codel.drops).toBe(dropsAt.length);
  });

  it("stops dropping as soon as the delay is back under target, or the queue drained", () => {
    const codel = new CoDel();
    let now = 0;
    for (; now <= CODEL_INTERVAL_MS; now++) codel.observe(20, now);
    expect(codel.shouldDrop(now)).toBe(true);
    codel.observe(1, now);
    expect(codel.shouldDrop(now + 500)).toBe(false);
    for (; now <= 3 * CODEL_INTERVAL_MS; now++) codel.observe(20, now);
    codel.drained();
    expect(codel.shouldDrop(now + 1)).toBe(false);
  });
});
