// The bench's arithmetic and parsers, on fixtures copied from the tools' real output.
import { describe, expect, it } from "vitest";
import { Series } from "./report.js";
import {
  growthPct,
  IperfError,
  median,
  parseIperf,
  parsePing,
  parseProcStatPpid,
  parseProcStatTicks,
  parseStatusKb,
  percentile,
  summarizePing,
} from "./stats.js";
import { renderChart } from "./svg.js";

const PING = `PING 198.51.100.2 (198.51.100.2) 56(84) bytes of data.
64 bytes from 198.51.100.2: icmp_seq=1 ttl=63 time=0.412 ms
64 bytes from 198.51.100.2: icmp_seq=2 ttl=63 time=3.10 ms
64 bytes from 198.51.100.2: icmp_seq=4 ttl=63 time=612 ms

--- 198.51.100.2 ping statistics ---
4 packets transmitted, 3 received, 25% packet loss, time 151ms
rtt min/avg/max/mdev = 0.412/205.170/612.000/287.612 ms
`;

describe("bench statistics", () => {
  it("takes the median of an odd and an even count, ignoring missing values", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, undefined, 2, 3])).toBe(2.5);
    expect(median([])).toBeUndefined();
  });

  it("interpolates percentiles between ranks", () => {
    expect(percentile([1, 2, 3, 4, 5], 50)).toBe(3);
    expect(percentile([10, 20], 99)).toBeCloseTo(19.9);
    expect(percentile([], 50)).toBeUndefined();
  });

  it("reads every reply of a ping run and its loss", () => {
    const result = parsePing(PING);
    expect(result.rttsMs).toEqual([0.412, 3.1, 612]);
    expect(summarizePing(result)).toMatchObject({ p50Ms: 3.1, lossPct: 25, samples: 3 });
  });

  it("reads the replies of a ping that was killed before its summary", () => {
    expect(parsePing(PING.split("\n").slice(0, 3).join("\n"))).toEqual({
      rttsMs: [0.412, 3.1],
      transmitted: 2,
      received: 2,
    });
  });

  it("reads iperf3's receiver goodput and sender congestion control", () => {
    const json = JSON.stringify({
      end: {
        sum_sent: { retransmits: 7 },
        sum_received: { bytes: 125_000_000, seconds: 10, bits_per_second: 1e8 },
        sender_tcp_congestion: "reno",
      },
    });
    expect(parseIperf(json)).toEqual({
      mbps: 100,
      bytes: 125_000_000,
      seconds: 10,
      retransmits: 7,
      senderCongestion: "reno",
    });
  });

  it("throws iperf3's own error message", () => {
    expect(() => parseIperf('{"error":"the server is busy running a test. try again later"}')).toThrow(
      /server is busy/,
    );
    expect(() => parseIperf("iperf3: error")).toThrow(IperfError);
  });

  it("reads CPU ticks and the parent from /proc/<pid>/stat, whatever the command name holds", () => {
    const stat = "4242 (node (x) y) S 4200 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 11 0 100 0 0";
    expect(parseProcStatTicks(stat)).toBe(300);
    expect(parseProcStatPpid(stat)).toBe(4200);
  });

  it("reads kB fields of /proc/<pid>/status", () => {
    const status = "Name:\tnode\nVmPeak:\t 900 kB\nVmHWM:\t  131072 kB\nVmRSS:\t  65536 kB\n";
    expect(parseStatusKb(status, "VmHWM")).toBe(131072);
    expect(parseStatusKb(status, "VmSwap")).toBeUndefined();
  });

  it("computes growth in percent from the first to the last sample", () => {
    expect(growthPct([100, 120, 104])).toBeCloseTo(4);
    expect(growthPct([100])).toBeUndefined();
  });

  it("derives ratios run by run, pairing the i-th value of each series", () => {
    const series = new Series();
    for (const [t, d] of [
      [100, 1000],
      [300, 1000],
      [200, 400],
    ]) {
      series.add("tether", t);
      series.add("direct", d);
    }
    series.derive("ratio", "ratio", "tether", "direct");
    expect(series.values.get("ratio")).toEqual([0.1, 0.3, 0.5]);
    expect(series.median("ratio")).toBe(0.3);
  });

  it("draws a chart with one bar per defined value and escapes labels", () => {
    const svg = renderChart("t", "s", [
      {
        title: "goodput",
        unit: "Mbit/s",
        scale: "log",
        bars: [
          { label: "a <b>", value: 150, kind: "tether" },
          { label: "c", value: null, kind: "baseline" },
        ],
      },
    ]);
    expect(svg).toContain("a &lt;b&gt;");
    expect(svg).toContain("not measured");
    expect(svg.match(/<rect x="290"/g)).toHaveLength(1);
  });
});
