// Super-packets across the wire (issue 12.1), laptop and exit joined in one process through a
// relay, fake TUNs in super-packet mode playing the kernel: negotiated, they cross whole and are
// written with their segment size; with either end not taking them, the sender splits them.
import { afterEach, describe, expect, it } from "vitest";
import { LaptopTunnel } from "../laptop/tunnel.js";
import { parseClientKey } from "../protocol/client-key.js";
import { SEAL_ROOM_BYTES } from "../protocol/flow-queue.js";
import { wrapSuperPacket } from "../protocol/super-packet.js";
import { buildTransportPacket, pattern } from "../testing/gso-packets.js";
import { type TestRelay, testRelay } from "../testing/relay.js";
import { startTestExit } from "../testing/test-exit.js";
import { until } from "../testing/until.js";
import { createFakeTun, type FakeTun } from "../tun/fake.js";
import { gsoSplit } from "../tun/gso-split.js";
import type { TunnelEnd } from "../tunnel/end.js";
import { SEAL_OVERHEAD_BYTES } from "../tunnel/seal.js";
import { EXIT_DEFAULTS } from "./exit.js";
import { ExitMetrics } from "./metrics.js";
import { Session } from "./session.js";
import { toTun } from "./uplink.js";

const MSS = 1348;
const LAPTOP = [10, 77, 0, 2];
const INTERNET = [198, 51, 100, 2];

/** A TCP super-packet of `segments` segments, checksum partial, as a TUN reader hands it over. */
function superPacket(source: readonly number[], destination: readonly number[], segments = 12): Uint8Array {
  return buildTransportPacket({
    version: 4,
    protocol: "tcp",
    payload: pattern(segments * MSS - 100, segments),
    source,
    destination,
    checksum: "partial",
  });
}

/** The packets' bytes, whatever their class (the wire's are Buffers). */
const bytes = (packets: readonly Uint8Array[] | string) =>
  typeof packets === "string" ? [] : packets.map((packet) => Buffer.from(packet));

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Records each write's segment size (0: an ordinary packet) on top of what the fake does. */
function recordWrites(tun: FakeTun): number[] {
  const sizes: number[] = [];
  const write = tun.write.bind(tun);
  let depth = 0; // the fake splits a super-packet by writing its segments: not counted again
  tun.write = (packet, segmentSize = 0) => {
    if (depth === 0) sizes.push(segmentSize);
    depth++;
    try {
      return write(packet, segmentSize);
    } finally {
      depth--;
    }
  };
  return sizes;
}

async function chain(options: { laptopOffers?: boolean; exitTakes?: boolean } = {}) {
  const {
    exit,
    tun: exitTun,
    key,
  } = await startTestExit(cleanups, {
    graceMs: EXIT_DEFAULTS.graceMs,
    superPackets: options.exitTakes,
  });
  const laptopTun = createFakeTun("laptop-fake");
  const tunnel = new LaptopTunnel(
    laptopTun,
    parseClientKey(key),
    { welcome: async () => undefined, state: () => undefined, fatal: () => undefined },
    { superPackets: options.laptopOffers },
  );
  const phone: TestRelay = testRelay();
  tunnel.attach(phone.laptopLeg, "binary", "test-phone");
  exit.accept(phone.exitLeg, "binary", "127.0.0.1");
  cleanups.push(async () => phone.close());
  const welcome = await until(() => tunnel.state === "established" && tunnel.welcome, "WELCOME");
  /** The phone's exit leg drops (as with `ss -K`) and is dialed again, the laptop leg staying up. */
  const redialExit = async (between: () => void) => {
    const exitLeg = phone.redialExit();
    await until(() => exit.sessions.attached === 0 || undefined, "the exit to see the leg go");
    between();
    exit.accept(exitLeg, "binary", "127.0.0.1");
  };
  return { exit, exitTun, laptopTun, tunnel, welcome, redialExit };
}

describe("super-packets across the wire", () => {
  it("leave room for sealing: the frame limit and the seal agree", () => {
    expect(SEAL_ROOM_BYTES).toBe(SEAL_OVERHEAD_BYTES);
  });

  it("negotiated: cross whole both ways and are written with their segment size", async () => {
    const { exitTun, laptopTun, welcome, tunnel } = await chain();
    expect(welcome.superPackets).toBe(true);
    const exitWrites = recordWrites(exitTun);
    const laptopWrites = recordWrites(laptopTun);

    const up = superPacket(LAPTOP, INTERNET);
    laptopTun.inject([up], [MSS]);
    await until(() => exitTun.written.length === 12 || undefined, "the segments at the exit's TUN");
    expect(exitWrites).toEqual([MSS]);
    expect(bytes(exitTun.written)).toEqual(bytes(gsoSplit(up, MSS)));

    const down = superPacket(INTERNET, LAPTOP, 20);
    exitTun.inject([down], [MSS]);
    await until(() => laptopTun.written.length === 20 || undefined, "the segments at the laptop's TUN");
    expect(laptopWrites).toEqual([MSS]);
    expect(bytes(laptopTun.written)).toEqual(bytes(gsoSplit(down, MSS)));
    expect(tunnel.counters.packetsDown).toBe(20);
  });

  for (const [side, options] of [
    ["the laptop does not offer them", { laptopOffers: false }],
    ["the exit does not take them", { exitTakes: false }],
  ] as const) {
    it(`${side}: each sender splits in user space, and only ordinary packets cross`, async () => {
      const { exitTun, laptopTun, welcome, exit } = await chain(options);
      expect(welcome.superPackets).toBeFalsy();
      const exitWrites = recordWrites(exitTun);
      const laptopWrites = recordWrites(laptopTun);

      const up = superPacket(LAPTOP, INTERNET);
      laptopTun.inject([up], [MSS]);
      await until(() => exitTun.written.length === 12 || undefined, "the segments at the exit's TUN");
      expect(exitWrites).toEqual(Array(12).fill(0));
      expect(bytes(exitTun.written)).toEqual(bytes(gsoSplit(up, MSS)));

      const down = superPacket(INTERNET, LAPTOP, 20);
      exitTun.inject([down], [MSS]);
      await until(() => laptopTun.written.length === 20 || undefined, "the segments at the laptop's TUN");
      expect(laptopWrites).toEqual(Array(20).fill(0));
      expect(bytes(laptopTun.written)).toEqual(bytes(gsoSplit(down, MSS)));
      const metrics = await exit.metrics.registry.getSingleMetricAsString("tether_exit_drops_total");
      expect(metrics).not.toContain("bad_super_packet");
    });
  }

  it("held for a detached session, a super-packet reaches the laptop once it resumes, as its segments", async () => {
    const { exitTun, laptopTun, redialExit, tunnel } = await chain();
    const down = superPacket(INTERNET, LAPTOP, 20);
    await redialExit(() => exitTun.inject([down], [MSS]));
    await until(() => laptopTun.written.length === 20 || undefined, "the held segments at the laptop's TUN");
    expect(bytes(laptopTun.written)).toEqual(bytes(gsoSplit(down, MSS)));
    expect(tunnel.welcome?.resumed).toBe(true);
  });

  it("the exit checks a super-packet by its inner header: a spoofed source or a refused destination is dropped", async () => {
    const { exitTun, laptopTun, exit } = await chain();
    laptopTun.inject(
      [
        superPacket([10, 77, 0, 9], INTERNET),
        superPacket(LAPTOP, [10, 0, 0, 1]),
        superPacket(LAPTOP, INTERNET),
      ],
      [MSS, MSS, MSS],
    );
    await until(() => exitTun.written.length === 12 || undefined, "the one good super-packet's segments");
    const metrics = await exit.metrics.registry.getSingleMetricAsString("tether_exit_drops_total");
    expect(metrics).toMatch(/reason="spoofed_source"[^\n]*} 1/);
    expect(metrics).toMatch(/reason="egress_private"[^\n]*} 1/);
  });

  it("the exit drops a super-packet slot from a leg that did not negotiate them, and a malformed one", async () => {
    const metrics = new ExitMetrics();
    const tun = createFakeTun("exit-fake");
    const session = new Session({
      id: new Uint8Array(16),
      clientId: "laptop-1",
      address: "10.77.0.2",
      addressInt: 0x0a4d0002,
      resumeToken: new Uint8Array(32),
      resumeSecret: new Uint8Array(32),
      end: undefined as unknown as TunnelEnd,
    });
    const slot = wrapSuperPacket(superPacket(LAPTOP, INTERNET), MSS);
    const malformed = Uint8Array.of(0xf1, 0x07, 0x05, 0x44, 0x45);
    expect(toTun(session, [slot, malformed], { tun, metrics }, false)).toBe(0);
    expect(toTun(session, [malformed], { tun, metrics }, true)).toBe(0);
    expect(tun.written).toHaveLength(0);
    const drops = await metrics.registry.getSingleMetricAsString("tether_exit_drops_total");
    expect(drops).toMatch(/reason="bad_super_packet"[^\n]*} 3/);
    expect(toTun(session, [slot], { tun, metrics }, true)).toBeGreaterThan(12 * MSS);
    expect(tun.written).toHaveLength(12);
  });
});
