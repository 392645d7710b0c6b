// How numbers read on the phone: units always, decimal (as carriers bill), short.
import { describe, expect, it } from "vitest";
import {
  formatBytes,
  formatDuration,
  formatPercent,
  formatPps,
  formatRate,
  formatRtt,
  parseCap,
  secondsUntil,
  UNKNOWN,
} from "./format.js";

describe("formatting for the stats view", () => {
  it("writes bytes in decimal units with three significant digits", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(999)).toBe("999 B");
    expect(formatBytes(1_234)).toBe("1.23 kB");
    expect(formatBytes(45_600_000)).toBe("45.6 MB");
    expect(formatBytes(123_000_000)).toBe("123 MB");
    expect(formatBytes(2_500_000_000)).toBe("2.50 GB");
  });

  it("writes rates in bits per second, as links are rated", () => {
    expect(formatRate(0)).toBe("0 bit/s");
    expect(formatRate(850)).toBe("850 bit/s");
    expect(formatRate(12_345)).toBe("12.3 kbit/s");
    expect(formatRate(4_560_000)).toBe("4.56 Mbit/s");
    expect(formatRate(1_200_000_000)).toBe("1.20 Gbit/s");
    expect(formatPps(12.6)).toBe("13 pkt/s");
  });

  it("writes a round trip with a decimal only below 10 ms, and a dash when unknown", () => {
    expect(formatRtt(0.42)).toBe("0.4 ms");
    expect(formatRtt(23.6)).toBe("24 ms");
    expect(formatRtt(undefined)).toBe(UNKNOWN);
    expect(formatRtt(Number.NaN)).toBe(UNKNOWN);
  });

  it("writes an uptime in the two largest units", () => {
    expect(formatDuration(42_000)).toBe("42 s");
    expect(formatDuration(303_000)).toBe("5 min 03 s");
    expect(formatDuration(7_620_000)).toBe("2 h 07 min");
    expect(formatDuration(273_600_000)).toBe("3 d 4 h");
  });

  it("counts whole seconds to a retry, never below zero", () => {
    expect(secondsUntil(10_001, 9_000)).toBe(2);
    expect(secondsUntil(10_000, 9_000)).toBe(1);
    expect(secondsUntil(5_000, 9_000)).toBe(0);
    expect(formatPercent(0.804)).toBe("80 %");
  });

  it("reads a cap as a person types it, in GB when no unit is given", () => {
    expect(parseCap("5")).toBe(5e9);
    expect(parseCap("5 GB")).toBe(5e9);
    expect(parseCap("1,5 gb")).toBe(1.5e9);
    expect(parseCap("500MB")).toBe(5e8);
    expect(parseCap("0")).toBeUndefined();
    expect(parseCap("lots")).toBeUndefined();
    expect(parseCap("")).toBeUndefined();
  });
});
