import { describe, expect, it } from "vitest";
import { MAX_HELD_BYTES } from "./device.js";
import { createFakeTun } from "./fake.js";
import { createFakeTun as createFakeTunFromIndex, openTun, TunError } from "./index.js";

const packet = (...bytes: number[]) => new Uint8Array([0x45, ...bytes]);

describe("fake TUN device", () => {
  it("has the name it was given, or a default", () => {
    expect(createFakeTun("tether7").name).toBe("tether7");
    expect(createFakeTun().name).toBe("faketun0");
  });

  it("hands injected packets to the handler as one batch, in order", () => {
    const tun = createFakeTun();
    const batches: Uint8Array[][] = [];
    tun.onPackets((packets) => batches.push(packets));
    tun.inject([packet(1), packet(2)]);
    tun.inject([packet(3)]);
    expect(batches).toEqual([[packet(1), packet(2)], [packet(3)]]);
    expect(tun.stats).toMatchObject({ packetsRead: 3, bytesRead: 6 });
  });

  it("gives the handler packets it owns: changing the injected array later changes nothing", () => {
    const tun = createFakeTun();
    const received: Uint8Array[] = [];
    tun.onPackets((packets) => received.push(...packets));
    const original = packet(9);
    tun.inject([original]);
    original[1] = 0;
    expect(received[0]).toEqual(packet(9));
  });

  it("holds packets injected before a handler is set and hands them over after onPackets()", async () => {
    const tun = createFakeTun();
    tun.inject([packet(1)]);
    tun.inject([packet(2)]);
    const received: Uint8Array[] = [];
    tun.onPackets((packets) => received.push(...packets));
    expect(received).toEqual([]); // not from inside onPackets(): after the caller's own wiring
    await Promise.resolve();
    expect(received).toEqual([packet(1), packet(2)]);
    expect(tun.stats.readDropsNoHandler).toBe(0);
  });

  it("drops and counts packets injected before a handler is set past MAX_HELD_BYTES", async () => {
    const tun = createFakeTun();
    const big = new Uint8Array(MAX_HELD_BYTES / 4).fill(0x45);
    tun.inject([big, big, big, big, big, big]);
    const received: Uint8Array[] = [];
    tun.onPackets((packets) => received.push(...packets));
    await Promise.resolve();
    expect(received).toHaveLength(4);
    expect(tun.stats).toMatchObject({ packetsRead: 6, readDropsNoHandler: 2 });
  });

  it("records written packets as copies and counts them", () => {
    const tun = createFakeTun();
    const sent = packet(1, 2, 3);
    expect(tun.write(sent)).toBe(true);
    sent[1] = 0;
    expect(tun.written).toEqual([packet(1, 2, 3)]);
    expect(tun.stats).toMatchObject({ packetsWritten: 1, bytesWritten: 4, writeErrors: 0 });
  });

  it("lets onWrite observe writes and refuse one as the kernel would", () => {
    const tun = createFakeTun();
    const seen: Uint8Array[] = [];
    tun.onWrite = (written) => {
      seen.push(written);
      return written[1] !== 0xff;
    };
    expect(tun.write(packet(1))).toBe(true);
    expect(tun.write(packet(0xff))).toBe(false);
    expect(seen).toHaveLength(2);
    expect(tun.written).toEqual([packet(1)]);
    expect(tun.stats).toMatchObject({ packetsWritten: 1, writeErrors: 1 });
  });

  it("refuses an empty packet", () => {
    const tun = createFakeTun();
    expect(tun.write(new Uint8Array(0))).toBe(false);
    expect(tun.stats.writeErrors).toBe(1);
  });

  it("after close() delivers nothing, refuses writes, and closes again without error", async () => {
    const tun = createFakeTun();
    const received: Uint8Array[] = [];
    tun.onPackets((packets) => received.push(...packets));
    await tun.close();
    expect(tun.closed).toBe(true);
    expect(tun.inject([packet(1)])).toBe(false);
    expect(tun.write(packet(1))).toBe(false);
    await tun.close();
    expect(received).toEqual([]);
    expect(tun.stats).toMatchObject({ packetsRead: 0, writeErrors: 1 });
  });

  it("returns stats as a snapshot", () => {
    const tun = createFakeTun();
    const before = tun.stats;
    tun.write(packet(1));
    expect(before.packetsWritten).toBe(0);
    expect(tun.stats.packetsWritten).toBe(1);
  });

  it("is exported from the TUN layer's index", () => {
    expect(createFakeTunFromIndex).toBe(createFakeTun);
  });
});

describe("openTun", () => {
  it("fails with UNSUPPORTED_PLATFORM, naming the platform, off Linux", async () => {
    const platform = Object.getOwnPropertyDescriptor(process, "platform");
    Object.defineProperty(process, "platform", { value: "darwin" });
    try {
      const error = await openTun().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(TunError);
      expect(error).toMatchObject({
        code: "UNSUPPORTED_PLATFORM",
        message: expect.stringContaining("darwin"),
      });
    } finally {
      if (platform) Object.defineProperty(process, "platform", platform);
    }
  });
});
