// Issue 13.5: the flow queues treat IPv6 as they treat IPv4. The IPv4 specs are in
// protocol/flow-queue.test.ts; these are their IPv6 and mixed-family counterparts: the same
// 5-tuple flows, a sparse flow served past a bulk one's backlog, the link shared by bytes, the
// memory bound taken from the fattest flow, every drop counted by reason.
import { describe, expect, it } from "vitest";
import { buildTransportPacket, pattern } from "../testing/gso-packets.js";
import { buildIpv6, NEXT_HEADER_ICMPV6, NEXT_HEADER_UDP, ports } from "../testing/ipv6-packets.js";
import { decodeFrame } from "./codec.js";
import { type FlowDropReason, FlowQueue, type FlowQueueOptions, flowHash } from "./flow-queue.js";
import { FrameType } from "./frames.js";
import type { FrameSink } from "./send-queue.js";

/** A socket that takes a frame only when told to: what it holds is what the queue handed over. */
class HeldSocket implements FrameSink {
  readonly bufferedAmount = 0;
  readonly frames: Uint8Array[][] = [];
  #taken: (() => void)[] = [];

  write(frame: Uint8Array, taken: () => void): void {
    const decoded = decodeFrame(frame);
    this.frames.push(decoded?.type === FrameType.DATA ? decoded.packets.map((p) => p.slice()) : []);
    this.#taken.push(taken);
  }

  /** Takes what it holds; the queue then hands over its next frames. */
  take(): void {
    for (const taken of this.#taken.splice(0)) taken();
  }
}

function queueOn(socket: HeldSocket, options: FlowQueueOptions = {}) {
  const later: Record<FlowDropReason, number> = { queue_delay: 0, fattest_flow: 0, frame_too_large: 0 };
  const queue = new FlowQueue(socket, {
    now: () => 0, // no time passes: CoDel never drops, only the bounds do
    dropped: (reason, packets) => {
      later[reason] += packets;
    },
    hashSeed: 1,
    sinkTargetBytes: 16 * 1024,
    ...options,
  });
  return { queue, later };
}

const LAPTOP6 = "fd77:e2e::2";
const INTERNET6 = "2001:db8:e::2";

/** A TCP/IPv6 packet of a bulk transfer from port `port` (1400 bytes of payload). */
function bulk6(port: number, bytes = 1400): Uint8Array {
  return buildTransportPacket({ version: 6, protocol: "tcp", sourcePort: port, payload: pattern(bytes) });
}

function bulk4(port: number, bytes = 1400): Uint8Array {
  return buildTransportPacket({ version: 4, protocol: "tcp", sourcePort: port, payload: pattern(bytes) });
}

/** An ICMPv6 echo request, 64 bytes of payload. */
const ping6 = () =>
  buildIpv6({
    source: LAPTOP6,
    destination: INTERNET6,
    nextHeader: NEXT_HEADER_ICMPV6,
    payload: pattern(64),
  });
/** A DNS query over UDP/IPv6. */
const dns6 = () =>
  buildIpv6({
    source: LAPTOP6,
    destination: INTERNET6,
    nextHeader: NEXT_HEADER_UDP,
    payload: ports(5353, 53, 40),
  });

const isIpv6 = (packet: Uint8Array) => packet[0]! >> 4 === 6;

describe("flow queues over IPv6", () => {
  it("keep an IPv6 5-tuple's packets in one flow, and tell each of its fields apart", () => {
    const base = {
      source: LAPTOP6,
      destination: INTERNET6,
      nextHeader: NEXT_HEADER_UDP,
      payload: ports(40000, 53),
    };
    const hash = (fields: Partial<typeof base>) => flowHash(buildIpv6({ ...base, ...fields }));
    const flow = hash({});
    expect(hash({ payload: ports(40000, 53, 200) })).toBe(flow); // same tuple, another datagram
    const others = [
      hash({ source: "fd77:e2e::3" }),
      hash({ destination: "2001:db8:e::3" }),
      hash({ payload: ports(40001, 53) }),
      hash({ payload: ports(40000, 54) }),
      hash({ nextHeader: 6 }), // TCP, same ports
    ];
    expect(new Set([flow, ...others]).size).toBe(6);
  });

  it("serve a ping and a DNS query over IPv6 ahead of a bulk IPv6 transfer's backlog", () => {
    const socket = new HeldSocket();
    const { queue } = queueOn(socket);
    queue.sendPackets(Array.from({ length: 300 }, () => bulk6(40000)));
    expect(queue.queuedPackets).toBeGreaterThan(200); // the socket holds 16 KiB of it, the rest waits
    queue.sendPackets([ping6(), dns6()]);
    const before = socket.frames.length;
    socket.take();
    const next = socket.frames[before]!;
    // Behind at most what is left of the bulk flow's turn (one packet), not its hundreds queued.
    const at = (nextHeader: number) => next.findIndex((packet) => packet[6] === nextHeader);
    expect(at(NEXT_HEADER_ICMPV6)).toBeGreaterThanOrEqual(0);
    expect(at(NEXT_HEADER_ICMPV6)).toBeLessThanOrEqual(1);
    expect(at(NEXT_HEADER_UDP)).toBe(at(NEXT_HEADER_ICMPV6) + 1);
    expect(next.length).toBeGreaterThan(10); // the rest of the frame is the backlog's
    expect(queue.drops).toEqual({ queue_delay: 0, fattest_flow: 0, frame_too_large: 0 });
  });

  it("share the link between an IPv4 and an IPv6 transfer within 10 % by bytes", () => {
    const socket = new HeldSocket();
    const { queue } = queueOn(socket);
    for (let i = 0; i < 800; i++) queue.sendPackets([bulk4(40000), bulk6(40000)]);
    const bytes = { 4: 0, 6: 0 };
    for (let round = 0; round < 40; round++) {
      const from = socket.frames.length;
      socket.take();
      for (const frame of socket.frames.slice(from)) {
        for (const packet of frame) bytes[isIpv6(packet) ? 6 : 4] += packet.length;
      }
    }
    expect(bytes[4] + bytes[6]).toBeGreaterThan(500_000);
    // An IPv6 header is 20 bytes longer than IPv4's: DRR shares by bytes, so the packet counts differ slightly.
    expect(Math.abs(bytes[4] - bytes[6]) / Math.max(bytes[4], bytes[6])).toBeLessThan(0.1);
  });

  it("take the memory bound from the fattest flow, an IPv6 transfer, and keep a small IPv4 flow's packets, counted", () => {
    const socket = new HeldSocket();
    const { queue, later } = queueOn(socket, { maxQueuedBytes: 1024 * 1024 });
    for (let round = 0; round < 100; round++) {
      queue.sendPackets(Array.from({ length: 20 }, () => bulk6(40000)));
      if (round % 10 === 0) queue.sendPackets([bulk4(50000, 100)]);
      expect(queue.queuedBytes).toBeLessThanOrEqual(1024 * 1024);
    }
    expect(queue.drops.fattest_flow).toBeGreaterThan(0);
    expect(later.fattest_flow).toBe(queue.drops.fattest_flow);
    for (let round = 0; round < 200 && queue.queuedPackets > 0; round++) socket.take();
    const small = socket.frames.flat().filter((packet) => !isIpv6(packet));
    expect(small).toHaveLength(10);
  });
});
