// Rates and the chart's history, worked out from counters sampled a few times a second.
import { describe, expect, it } from "vitest";
import { CHART_SPAN_MS, type Counters, RATE_WINDOW_MS, RateMeter } from "./rates.js";

const sample = (at: number, up: number, down: number, pu = 0, pd = 0): Counters => ({
  at,
  bytesUp: up,
  bytesDown: down,
  packetsUp: pu,
  packetsDown: pd,
});

describe("the rate meter", () => {
  it("is zero until it has two samples", () => {
    const meter = new RateMeter();
    expect(meter.rates()).toEqual({ up: 0, down: 0, upPackets: 0, downPackets: 0 });
    meter.push(sample(0, 100, 100));
    expect(meter.rates().down).toBe(0);
  });

  it("gives bits and packets per second over the last window", () => {
    const meter = new RateMeter();
    // 125 kB/s down (1 Mbit/s), 12.5 kB/s up, sampled 4 times a second for 5 s.
    for (let t = 0; t <= 5_000; t += 250) meter.push(sample(t, t * 12.5, t * 125, t / 10, t));
    const rates = meter.rates();
    expect(rates.down).toBeCloseTo(1_000_000);
    expect(rates.up).toBeCloseTo(100_000);
    expect(rates.upPackets).toBeCloseTo(100);
    expect(rates.downPackets).toBeCloseTo(1000);
  });

  it("follows a change within about a window", () => {
    const meter = new RateMeter();
    for (let t = 0; t <= 10_000; t += 250) meter.push(sample(t, 0, t < 5_000 ? t * 125 : 625_000));
    expect(meter.rates().down).toBe(0);
    expect(RATE_WINDOW_MS).toBeLessThan(5_000);
  });

  it("keeps one chart point a second for the chart's span, no more", () => {
    const meter = new RateMeter();
    for (let t = 0; t <= CHART_SPAN_MS * 2; t += 250) meter.push(sample(t, 0, t * 125));
    const points = meter.history();
    expect(points).toHaveLength(CHART_SPAN_MS / 1000);
    expect(points.at(-1)?.at).toBe(CHART_SPAN_MS * 2);
    expect(points[0]?.down).toBeCloseTo(1_000_000);
  });

  it("draws a gap (a frozen page) as its average, and starts over when the counters go back", () => {
    const meter = new RateMeter();
    meter.push(sample(0, 0, 0));
    meter.push(sample(60_000, 0, 7_500_000)); // a minute frozen: 1 Mbit/s on average
    expect(meter.history()).toEqual([{ at: 60_000, up: 0, down: 1_000_000 }]);
    meter.push(sample(60_250, 0, 10)); // a new relay
    meter.push(sample(60_500, 0, 135));
    expect(meter.rates().down).toBeCloseTo(4_000);
  });
});
