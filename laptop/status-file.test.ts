// `tether status` reads what the running tether writes: the live line's essentials, once a second,
// and tells a running tether from one that stopped or was killed.
import { readFileSync } from "node:fs";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  formatStatus,
  readStatus,
  STATUS_FILE,
  STATUS_STALE_MS,
  StatusFile,
  type StatusSnapshot,
  statusCommand,
} from "./status-file.js";
import type { LaptopTunnel } from "./tunnel.js";

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "tether-status-test-"));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function fakeTunnel(): LaptopTunnel {
  return {
    state: "established",
    welcome: { address: "10.77.0.9" },
    rttMs: 42.4,
    counters: {
      packetsUp: 10,
      bytesUp: 1_000,
      packetsDown: 20,
      bytesDown: 2_000_000,
      drops: { no_relay: 3 },
      relays: 1,
      relaysBusy: 2,
      handshakesFailed: 4,
      closesIgnored: 5,
      legDrops: { forged: 6, replayed: 7 },
      refusals: { control_reply: 8, unread: 1 },
      ceMarked: 9,
    },
  } as unknown as LaptopTunnel;
}

async function waitForFile(path: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await stat(path).catch(() => undefined)) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`${path} never appeared`);
}

async function output(configDir: string, json: boolean): Promise<{ code: number; text: string }> {
  const out = new PassThrough();
  let text = "";
  out.on("data", (chunk: Buffer) => {
    text += chunk.toString();
  });
  const code = await statusCommand(configDir, json, out);
  return { code, text };
}

describe("tether status", () => {
  it("prints state, address, rates, round trip and data used of the running tether", async () => {
    const file = new StatusFile(dir, fakeTunnel(), {
      exit: "wss://exit.example",
      listening: ["192.168.43.2:7443"],
    });
    file.start();
    await waitForFile(join(dir, STATUS_FILE));
    const { code, text } = await output(dir, false);
    expect(code).toBe(0);
    expect(text).toMatch(/^tether: connected\n/);
    expect(text).toContain("address  10.77.0.9");
    expect(text).toContain("rtt      42 ms laptop <-> exit");
    expect(text).toContain("used     2.0 MB (1.0 kB up, 2.0 MB down) since start");
    expect(text).toContain("phone    192.168.43.2:7443");
    await file.stop();
  });

  it("prints the same as JSON with --json", async () => {
    const file = new StatusFile(dir, fakeTunnel(), { exit: "wss://exit.example", listening: [] });
    file.start();
    await waitForFile(join(dir, STATUS_FILE));
    const { code, text } = await output(dir, true);
    const parsed = JSON.parse(text) as { running: boolean; status: StatusSnapshot };
    expect(code).toBe(0);
    expect(parsed.running).toBe(true);
    expect(parsed.status).toMatchObject({
      state: "established",
      label: "connected",
      address: "10.77.0.9",
      bytesUp: 1_000,
      bytesDown: 2_000_000,
      pid: process.pid,
    });
    await file.stop();
  });

  it("carries protocol v2's refusals of what a relay made up, and what the relays were refused, for the operator and the e2e", async () => {
    const file = new StatusFile(dir, fakeTunnel(), { exit: "wss://exit.example", listening: [] });
    file.start();
    await waitForFile(join(dir, STATUS_FILE));
    const { text } = await output(dir, true);
    expect((JSON.parse(text) as { status: StatusSnapshot }).status).toMatchObject({
      legDrops: { forged: 6, replayed: 7 },
      refusals: { control_reply: 8, unread: 1 },
      ceMarked: 9,
      relaysBusy: 2,
      handshakesFailed: 4,
      closesIgnored: 5,
    });
    await file.stop();
  });

  it("removes the file when the tether stops, and then says none is running, with exit code 3", async () => {
    const file = new StatusFile(dir, fakeTunnel(), { exit: "wss://exit.example", listening: [] });
    file.start();
    await waitForFile(join(dir, STATUS_FILE));
    await file.stop();
    const { code, text } = await output(dir, false);
    expect(code).toBe(3);
    expect(text).toMatch(/^tether: not running \(no tether is running with config folder /);
  });

  it("calls a file that stopped being rewritten stale, and one whose process is gone not running", async () => {
    const file = new StatusFile(dir, fakeTunnel(), { exit: "wss://exit.example", listening: [] });
    const snapshot = file.snapshot();
    await writeFile(join(dir, STATUS_FILE), JSON.stringify(snapshot));
    expect((await readStatus(dir, snapshot.updatedAt + 1_000)).running).toBe(true);
    const stale = await readStatus(dir, snapshot.updatedAt + STATUS_STALE_MS + 1);
    expect(stale).toMatchObject({ running: false });
    expect(formatStatus(stale)).toContain("stopped updating its status");

    await writeFile(join(dir, STATUS_FILE), JSON.stringify({ ...snapshot, pid: 2 ** 22 + 1 }));
    expect(formatStatus(await readStatus(dir))).toMatch(/pid \d+\) is gone/);
  });

  it("writes the file whole (written aside, then renamed over)", async () => {
    const file = new StatusFile(dir, fakeTunnel(), { exit: "wss://exit.example", listening: [] });
    file.start();
    await waitForFile(join(dir, STATUS_FILE));
    expect(() => JSON.parse(readFileSync(join(dir, STATUS_FILE), "utf8"))).not.toThrow();
    await file.stop();
  });
});
