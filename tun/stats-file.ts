// A TUN device's counters in a file, for whoever watches the process from outside (the bench: packets
// per read and write call, super-packets). Off unless TETHER_TUN_STATS_DIR names a folder: then
// every open device rewrites DIR/<interface>.json (write aside, rename over) every
// STATS_FILE_INTERVAL_MS, and once more when it closes. Nothing is read back.
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TunDevice } from "./device.js";

/** The environment variable naming the folder; unset (the default): no file. */
export const TUN_STATS_DIR_ENV = "TETHER_TUN_STATS_DIR";

/** Between two rewrites, ms: fine enough to bracket a measurement of seconds, cheap (a small file). */
export const STATS_FILE_INTERVAL_MS = 200;

/** What the file holds: the device's counters and offload state, and when they were taken. */
export interface TunStatsFile {
  name: string;
  atMs: number;
  stats: TunDevice["stats"];
  offload: TunDevice["offload"];
}

/**
 * Starts rewriting `dir`/<name>.json for `device`; returns the function that writes it one last
 * time and stops. A write that fails (the folder went away) is skipped, never thrown.
 */
export function writeStatsFile(device: TunDevice, dir: string): () => void {
  const path = join(dir, `${device.name}.json`);
  const aside = `${path}.${process.pid}.tmp`;
  const write = () => {
    const content: TunStatsFile = {
      name: device.name,
      atMs: Date.now(),
      stats: device.stats,
      offload: device.offload,
    };
    try {
      writeFileSync(aside, JSON.stringify(content));
      renameSync(aside, path);
    } catch {
      // the watcher's folder is gone: nothing to tell
    }
  };
  write();
  const timer = setInterval(write, STATS_FILE_INTERVAL_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    write();
  };
}
