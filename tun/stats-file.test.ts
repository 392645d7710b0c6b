import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { buildIpv4Udp } from "../testing/packets.js";
import { createFakeTun } from "./fake.js";
import { STATS_FILE_INTERVAL_MS, type TunStatsFile, writeStatsFile } from "./stats-file.js";

const packet = buildIpv4Udp({
  source: "10.77.0.2",
  destination: "198.51.100.2",
  sourcePort: 4000,
  destinationPort: 53,
  payload: new Uint8Array(20),
});

describe("a TUN's counters in a file (TETHER_TUN_STATS_DIR)", () => {
  const dirs: string[] = [];
  afterEach(() => {
    vi.useRealTimers();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const folder = () => {
    const dir = mkdtempSync(join(tmpdir(), "tun-stats-"));
    dirs.push(dir);
    return dir;
  };
  const read = (dir: string, name: string) =>
    JSON.parse(readFileSync(join(dir, `${name}.json`), "utf8")) as TunStatsFile;

  it("writes the device's counters at once, then every interval, under the interface's name", () => {
    vi.useFakeTimers();
    const dir = folder();
    const tun = createFakeTun("tether7");
    const stop = writeStatsFile(tun, dir);
    expect(read(dir, "tether7")).toMatchObject({
      name: "tether7",
      stats: { packetsWritten: 0, writeCalls: 0 },
    });
    tun.writePackets([packet, packet]);
    vi.advanceTimersByTime(STATS_FILE_INTERVAL_MS);
    expect(read(dir, "tether7").stats).toMatchObject({ packetsWritten: 2, writeCalls: 2 });
    expect(read(dir, "tether7").offload).toEqual(tun.offload);
    stop();
  });

  it("writes a last time when stopped, then no more, leaving no file aside", () => {
    vi.useFakeTimers();
    const dir = folder();
    const tun = createFakeTun("tether8");
    const stop = writeStatsFile(tun, dir);
    tun.write(packet);
    stop();
    expect(read(dir, "tether8").stats.packetsWritten).toBe(1);
    tun.write(packet);
    vi.advanceTimersByTime(5 * STATS_FILE_INTERVAL_MS);
    expect(read(dir, "tether8").stats.packetsWritten).toBe(1);
    expect(readdirSync(dir)).toEqual(["tether8.json"]);
  });

  it("skips writes to a folder that is gone, without throwing", () => {
    vi.useFakeTimers();
    const dir = folder();
    const tun = createFakeTun("tether9");
    rmSync(dir, { recursive: true });
    const stop = writeStatsFile(tun, dir);
    expect(() => vi.advanceTimersByTime(STATS_FILE_INTERVAL_MS)).not.toThrow();
    expect(() => stop()).not.toThrow();
  });
});
