// The chart's scale and its words for screen readers (the drawing itself is checked by eye in the
// e2e screenshot).
import { describe, expect, it } from "vitest";
import { describeChart, niceCeiling } from "./chart.js";

describe("the throughput chart", () => {
  it("rounds the top of its scale up to 1, 2 or 5 times a power of ten", () => {
    expect(niceCeiling(0)).toBe(1000);
    expect(niceCeiling(870)).toBe(1000);
    expect(niceCeiling(1_200_000)).toBe(2_000_000);
    expect(niceCeiling(3_000_000)).toBe(5_000_000);
    expect(niceCeiling(5_000_000)).toBe(5_000_000);
    expect(niceCeiling(7_000_000)).toBe(10_000_000);
  });

  it("says the peaks in words", () => {
    expect(describeChart([])).toBe("Throughput chart: no data yet");
    expect(
      describeChart([
        { at: 1, up: 100_000, down: 2_000_000 },
        { at: 2, up: 50_000, down: 8_000_000 },
      ]),
    ).toBe("Throughput over the last 5 minutes: peak down 8.00 Mbit/s, peak up 100 kbit/s");
  });
});
