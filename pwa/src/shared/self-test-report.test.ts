// The self-test's report: figures with units, worked out from what the phone counted.
import { describe, expect, it } from "vitest";
import {
  median,
  rateFigures,
  type SelfTestFindings,
  selfTestCost,
  selfTestReport,
} from "./self-test-report.js";

const findings: SelfTestFindings = {
  at: Date.UTC(2026, 11, 1, 20, 30),
  userAgent: "Chromium/140",
  rate: {
    messagesUp: 1000,
    messagesDown: 1000,
    bytesUp: 16_392_000,
    bytesDown: 16_392_000,
    windowMs: 2_000,
    laptop: {
      echoesSent: 1000,
      echoesReceived: 1000,
      bytesSent: 16_392_000,
      bytesReceived: 16_392_000,
      elapsedMs: 2_100,
    },
    droppedUp: 0,
    droppedDown: 0,
  },
  rateNote: "",
  rtt: { laptop: [2, 3, 1], exit: [12, 10, 11, 13], endToEnd: 15 },
  binary: { laptop: "yes", exit: "yes" },
  wakeLock: "works",
  notifications: "allowed",
  localNetwork: "granted",
  hidden: { hiddenAt: 0, visibleAt: 8_000, laptop: "survived", exit: 3_000 },
};

describe("the self-test's report", () => {
  it("works out messages per second and Mbit/s each way over the window the phone saw", () => {
    expect(rateFigures(findings.rate!)).toEqual({
      messagesPerSecond: 1000,
      upMbps: 65.568,
      downMbps: 65.568,
    });
    expect(median([3, 1, 2])).toBe(2);
    expect(median([10, 13, 11, 12])).toBe(11.5);
    expect(median([])).toBeUndefined();
  });

  it("says every finding on its own line, with units", () => {
    expect(selfTestReport(findings).split("\n")).toEqual([
      "Tether self-test, 2026-12-01 20:30 UTC",
      "Browser: Chromium/140",
      "Relay rate: 1000 messages/s, 65.6 Mbit/s up and 65.6 Mbit/s down at once (1000 + 1000 messages of 16.4 kB in 2.00 s; the laptop sent 1000 echoes and got 1000 back)",
      "Round trips: laptop leg 2.0 ms (median of 3), exit leg 12 ms (median of 4), laptop to exit 15 ms",
      "Binary frames: laptop leg yes, exit leg yes",
      "Screen wake lock: works",
      "Notifications: allowed",
      "Local network permission: granted",
      "Last time hidden: hidden for 8.0 s; laptop leg stayed open, exit leg closed after 3.0 s",
      "Data the test used: 32.8 MB",
    ]);
  });

  it("says how many test messages the phone dropped each way", () => {
    const report = selfTestReport({
      ...findings,
      rate: { ...findings.rate!, droppedUp: 116, droppedDown: 2 },
    });
    expect(report).toContain("back; the phone dropped 116 up and 2 down, its legs backed up)");
  });

  it("says why the rate was not measured", () => {
    const report = selfTestReport({
      ...findings,
      rate: undefined,
      rateNote: "the laptop sent no test traffic",
    });
    expect(report).toContain("Relay rate: not measured (the laptop sent no test traffic)");
    expect(report).not.toContain("Data the test used");
  });

  it("states its cost before running: bounded in time and bytes", () => {
    expect(selfTestCost()).toMatch(
      /about 5 seconds and uses at most 20.0 MB of this phone's data \(10.0 MB each way/,
    );
  });
});
