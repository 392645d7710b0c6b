// Segmentation against the kernel's own. Two TUNs in a namespace of this test, the kernel
// forwarding from one to the other: a super-packet written into "in" (with a vnet header) comes out
// of "out" as the kernel segmented it (a TUN without offloads), or whole (a TUN with offloads).
// What comes out must be exactly what gso-split.ts makes of the same super-packet, forwarded (TTL
// or hop limit one less), whichever side does the work.

import { existsSync } from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  buildTransportPacket,
  checksumsValid,
  pattern,
  type TransportPacket,
} from "../testing/gso-packets.js";
import { stopChild, TestNamespace } from "../testing/netns.js";
import { until } from "../testing/until.js";
import type { TunDevice, TunOptions } from "./device.js";
import { gsoSplit } from "./gso-split.js";
import { openLinuxTun } from "./linux.js";

const required = process.env.TETHER_REQUIRE_PRIVILEGED === "1";
const canRun =
  required || (process.platform === "linux" && process.getuid?.() === 0 && existsSync("/dev/net/tun"));

/** Bound on every wait for the kernel. */
const WAIT_MS = 5_000;
const MSS = 1400;
const DESTINATION_PORT = 5201; // testing/gso-packets.ts' default: tells our packets from the kernel's

describe.skipIf(!canRun)("segmentation, checked against the kernel (needs root and /dev/net/tun)", () => {
  let namespace: TestNamespace | undefined;
  const opened: TunDevice[] = [];

  beforeAll(() => {
    namespace = TestNamespace.create(`tether-gsotest-${process.pid}`);
    namespace.sysctl("net.ipv4.ip_forward", "1");
    namespace.sysctl("net.ipv6.conf.all.forwarding", "1");
    for (const scope of ["all", "default"]) namespace.sysctl(`net.ipv4.conf.${scope}.rp_filter`, "0");
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((tun) => tun.close()));
  });

  afterAll(() => {
    namespace?.delete();
  });

  function ns(): TestNamespace {
    if (!namespace) throw new Error("the test namespace was not created");
    return namespace;
  }

  /**
   * "in" holds the senders of testing/gso-packets.ts (10.200.1.2, fd00::2), "out" the receivers
   * (10.200.2.3, fd00::103): the kernel forwards from one to the other.
   */
  async function pair(inOptions: TunOptions, outOptions: TunOptions) {
    const inTun = await openLinuxTun({ name: "gsoin%d", ...inOptions });
    opened.push(inTun);
    const outTun = await openLinuxTun({ name: "gsoout%d", ...outOptions });
    opened.push(outTun);
    for (const [tun, v4, v6] of [
      [inTun, "10.200.1.1/24", "fd00::1/120"],
      [outTun, "10.200.2.1/24", "fd00::101/120"],
    ] as const) {
      ns().adopt(tun.name);
      ns().ip("addr", "add", v4, "dev", tun.name);
      ns().ip("-6", "addr", "add", v6, "dev", tun.name, "nodad");
      ns().ip("link", "set", "dev", tun.name, "up");
    }
    return { inTun, outTun };
  }

  /** Collects what `tun` hands over for our flows until `enough` says so. */
  function collect(tun: TunDevice, enough: (packets: Uint8Array[]) => boolean) {
    const packets: Uint8Array[] = [];
    const sizes: number[] = [];
    return new Promise<{ packets: Uint8Array[]; sizes: number[] }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out with ${packets.length} packets`)), WAIT_MS);
      tun.onPackets((batch, segmentSizes) => {
        batch.forEach((packet, i) => {
          if (!isOurs(packet)) return;
          packets.push(packet.slice());
          sizes.push(segmentSizes?.[i] ?? 0);
        });
        if (enough(packets)) {
          clearTimeout(timer);
          resolve({ packets, sizes });
        }
      });
    });
  }

  const cases: [string, TransportPacket, number][] = [
    ["TCP/IPv4", { version: 4, protocol: "tcp", payload: pattern(20 * MSS + 321), flags: 0x19 }, MSS],
    ["TCP/IPv6", { version: 6, protocol: "tcp", payload: pattern(7 * MSS + 5) }, MSS],
    ["UDP/IPv4", { version: 4, protocol: "udp", payload: pattern(9 * 1200 + 77) }, 1200],
  ];

  for (const [what, fields, segmentSize] of cases) {
    const superPacket = buildTransportPacket({ ...fields, checksum: "partial" });
    const expected = forwarded(split(superPacket, segmentSize));

    it(`${what}: the kernel segments a super-packet written with a vnet header as gsoSplit does`, async () => {
      const { inTun, outTun } = await pair({ offload: {} }, {});
      const out = collect(outTun, (packets) => packets.length >= expected.length);
      expect(inTun.write(superPacket, segmentSize)).toBe(true);
      const { packets } = await out;
      expect(inTun.stats).toMatchObject({ superPacketsWritten: 1, writeCalls: 1 });
      expect(packets.map(hex)).toEqual(expected.map(hex));
    });

    it(`${what}: a super-packet the kernel forwards to an offload TUN is read whole, or split as the kernel would`, async () => {
      for (const superPackets of [true, false]) {
        const { inTun, outTun } = await pair({ offload: {} }, { offload: { superPackets } });
        const out = collect(outTun, (packets) => packets.length >= (superPackets ? 1 : expected.length));
        expect(inTun.write(superPacket, segmentSize)).toBe(true);
        const { packets, sizes } = await out;
        if (superPackets) {
          expect(sizes).toEqual([segmentSize]);
          expect(outTun.stats.superPacketsRead).toBe(1);
          expect(split(packets[0]!, segmentSize).map(hex)).toEqual(expected.map(hex));
        } else {
          expect(packets.map(hex)).toEqual(expected.map(hex));
          expect(outTun.stats.superPacketsRead).toBe(1);
          // One read brought all the segments; the kernel's own IPv6 chatter comes one packet per
          // read, so reads and packets differ by the segments less one. The reader thread counts a
          // read as it makes it, this thread its packets when their batch arrives: a chatter read
          // may be in the first count and not yet in the second (once at load 17: 8, not 9), so
          // the two are compared once they agree on every read made. Two reads for our segments
          // would leave them one further apart for good, and this wait would fail.
          const settled = await until(
            () => {
              const stats = outTun.stats;
              return stats.packetsRead - stats.readCalls === expected.length - 1 && stats;
            },
            "the reader's counts to take in every read",
            WAIT_MS,
          ).catch(() => outTun.stats);
          expect(settled.packetsRead - settled.readCalls).toBe(expected.length - 1);
        }
        await Promise.all(opened.splice(0).map((tun) => tun.close()));
      }
    });

    it(`${what}: without GSO writes (no offloads, or a kernel that refuses them) the same segments go in one by one`, async () => {
      for (const inOptions of [{}, { offload: { gsoWrites: false } }] satisfies TunOptions[]) {
        const { inTun, outTun } = await pair(inOptions, {});
        const out = collect(outTun, (packets) => packets.length >= expected.length);
        expect(inTun.write(superPacket, segmentSize)).toBe(true);
        const { packets } = await out;
        expect(inTun.stats).toMatchObject({ superPacketsWritten: 0, writeCalls: expected.length });
        expect(packets.map(hex)).toEqual(expected.map(hex));
        await Promise.all(opened.splice(0).map((tun) => tun.close()));
      }
    });
  }

  it("coalesces a batch of a flow's segments into one write, which the kernel segments back into them", async () => {
    const { inTun, outTun } = await pair({ offload: {} }, {});
    const segments = split(
      buildTransportPacket({ version: 4, protocol: "tcp", payload: pattern(30 * MSS + 9) }),
      MSS,
    );
    const out = collect(outTun, (packets) => packets.length >= segments.length);
    expect(inTun.writePackets(segments)).toEqual({
      packets: segments.length,
      bytes: segments.reduce((sum, segment) => sum + segment.length, 0),
    });
    const { packets } = await out;
    expect(inTun.stats).toMatchObject({
      writeCalls: 1,
      superPacketsWritten: 1,
      packetsWritten: segments.length,
    });
    expect(packets.map(hex)).toEqual(forwarded(segments).map(hex));
  });

  it("completes the partial checksum of a packet the kernel leaves it to us (NEEDS_CSUM)", async () => {
    const { outTun } = await pair({}, { offload: {} });
    const out = collect(outTun, (packets) => packets.length >= 1);
    // A socket of the namespace sends through a device that does checksums: the kernel leaves it.
    const sender = ns().node(`
      const socket = require("dgram").createSocket("udp4");
      socket.send(Buffer.alloc(999, 7), ${DESTINATION_PORT}, "10.200.2.3", () => socket.close());
    `);
    try {
      const { packets } = await out;
      expect(outTun.stats.checksumsCompleted).toBeGreaterThanOrEqual(1);
      expect(checksumsValid(packets[0]!)).toBe(true);
    } finally {
      await stopChild(sender);
    }
  });
});

function isOurs(packet: Uint8Array): boolean {
  const version = packet[0]! >> 4;
  const ip = version === 4 ? 20 : 40;
  const protocol = version === 4 ? packet[9] : packet[6];
  if (protocol !== 6 && protocol !== 17) return false;
  return packet.length >= ip + 4 && ((packet[ip + 2]! << 8) | packet[ip + 3]!) === DESTINATION_PORT;
}

function split(packet: Uint8Array, segmentSize: number): Uint8Array[] {
  const segments = gsoSplit(packet, segmentSize);
  if (typeof segments === "string") throw new Error(`refused: ${segments}`);
  return segments;
}

/** As the kernel forwards them: TTL or hop limit one less (and the IPv4 header checksum updated). */
function forwarded(packets: Uint8Array[]): Uint8Array[] {
  return packets.map((original) => {
    const packet = original.slice();
    if (packet[0]! >> 4 === 6) {
      packet[7]!--;
      return packet;
    }
    packet[8]!--;
    packet[10] = 0;
    packet[11] = 0;
    let sum = 0;
    for (let i = 0; i < 20; i += 2) sum += (packet[i]! << 8) | packet[i + 1]!;
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    packet[10] = (~sum >> 8) & 0xff;
    packet[11] = ~sum & 0xff;
    return packet;
  });
}

function hex(packet: Uint8Array): string {
  return Buffer.from(packet).toString("hex");
}
