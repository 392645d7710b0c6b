import { describe, expect, it } from "vitest";
import { buildTransportPacket, checksumsValid, pattern, tcpSeq } from "../testing/gso-packets.js";
import { SUPER_PACKET_MAX_BYTES } from "../tun/device.js";
import { gsoSplit } from "../tun/gso-split.js";
import { decodeFrame, encodeFrame } from "./codec.js";
import { Ecn, ecnOf } from "./ecn.js";
import {
  FATTEST_FLOW_DROP_SEGMENTS,
  type FlowDropReason,
  FlowQueue,
  type FlowQueueOptions,
  flowHash,
  MAX_MESSAGE_BYTES,
  SEAL_ROOM_BYTES,
} from "./flow-queue.js";
import { FrameType, Hop } from "./frames.js";
import type { FrameSink } from "./send-queue.js";
import { unwrapSlot } from "./super-packet.js";

/** A simulated clock and a link behind the socket that takes `bytesPerMs`. */
class Link implements FrameSink {
  now = 0;
  readonly bufferedAmount = 0;
  /** Each packet delivered: its first 4 bytes of payload identify it; when it left. */
  readonly delivered: { packet: Uint8Array; at: number }[] = [];
  readonly frames: Uint8Array[] = [];
  #waiting: { frame: Uint8Array; taken: () => void }[] = [];
  #budget = 0;

  constructor(public bytesPerMs: number) {}

  write(frame: Uint8Array, taken: () => void): void {
    this.#waiting.push({ frame, taken });
  }

  /** One millisecond of the link. */
  tick(): void {
    this.now++;
    this.#budget = Math.min(this.#budget + this.bytesPerMs, this.bytesPerMs);
    // A frame starts when the link is free and takes as long as its bytes need (a debt).
    while (this.#waiting.length > 0 && this.#budget > 0) {
      const { frame, taken } = this.#waiting.shift()!;
      this.#budget -= frame.length;
      this.frames.push(frame);
      const decoded = decodeFrame(frame);
      if (decoded?.type === FrameType.DATA) {
        for (const packet of decoded.packets) this.delivered.push({ packet: packet.slice(), at: this.now });
      }
      taken();
    }
  }
}

function queueOn(link: Link, options: FlowQueueOptions = {}) {
  const later: Record<FlowDropReason, number> = { queue_delay: 0, fattest_flow: 0, frame_too_large: 0 };
  const laterBytes: Record<FlowDropReason, number> = { queue_delay: 0, fattest_flow: 0, frame_too_large: 0 };
  /** Each report's segments, in order. */
  const reports: number[] = [];
  const queue = new FlowQueue(link, {
    now: () => link.now,
    dropped: (reason, segments, bytes) => {
      later[reason] += segments;
      laterBytes[reason] += bytes;
      reports.push(segments);
    },
    hashSeed: 1,
    ...options,
  });
  return { queue, later, laterBytes, reports };
}

/** A queue whose socket takes every frame at once, and the frames it wrote. */
function drainingQueue() {
  const frames: Uint8Array[] = [];
  const queue = new FlowQueue({
    bufferedAmount: 0,
    write: (frame, taken) => {
      frames.push(frame);
      taken();
    },
  });
  return { queue, frames };
}

/** The DATA slots of these frames, in order. */
function dataSlots(frames: readonly Uint8Array[]): Uint8Array[] {
  return frames.flatMap((frame) => {
    const decoded = decodeFrame(frame);
    return decoded?.type === FrameType.DATA ? decoded.packets : [];
  });
}

const templates = new Map<string, Uint8Array>();

/** A TCP/IPv4 packet of flow `port` whose payload starts with `id` (checksum not kept right). */
function tcp(port: number, id: number, bytes = 1400): Uint8Array {
  const key = `${port}/${bytes}`;
  let template = templates.get(key);
  if (!template) {
    template = buildTransportPacket({
      version: 4,
      protocol: "tcp",
      sourcePort: port,
      payload: pattern(bytes),
    });
    templates.set(key, template);
  }
  const packet = template.slice();
  new DataView(packet.buffer).setUint32(40, id);
  return packet;
}

function dns(id: number): Uint8Array {
  const payload = pattern(40);
  new DataView(payload.buffer).setUint32(0, id);
  return buildTransportPacket({
    version: 4,
    protocol: "udp",
    sourcePort: 5353,
    destinationPort: 53,
    payload,
  });
}

/** An ICMP echo request (IPv4, 84 bytes) whose payload starts with `id`. */
function ping(id: number): Uint8Array {
  const packet = new Uint8Array(84);
  const view = new DataView(packet.buffer);
  packet[0] = 0x45;
  view.setUint16(2, 84);
  packet[8] = 64;
  packet[9] = 1;
  packet.set([10, 200, 1, 2, 10, 200, 2, 3], 12);
  packet[20] = 8;
  view.setUint32(28, id);
  return packet;
}

function idOf(packet: Uint8Array): number {
  const offset = packet[9] === 1 ? 28 : packet[9] === 17 ? 28 : 40;
  return new DataView(packet.buffer, packet.byteOffset).getUint32(offset);
}

function portOf(packet: Uint8Array): number {
  return packet[9] === 1 ? 0 : (packet[20]! << 8) | packet[21]!;
}

describe("FlowQueue: a sparse flow beside a saturating one", () => {
  /**
   * 80 Mbit/s behind the socket; a flow sending 4x that (unresponsive, the worst case), and a
   * ping every 50 ms and a DNS query every 100 ms beside it, for 3 s.
   */
  function saturate() {
    const link = new Link(10_000);
    const { queue, later } = queueOn(link, { sinkTargetBytes: 16 * 1024 });
    const sentAt = new Map<number, number>();
    let bulkId = 1_000_000;
    for (let ms = 0; ms < 3_000; ms++) {
      const batch: Uint8Array[] = [];
      for (let i = 0; i < 30; i++) batch.push(tcp(40_000, bulkId++));
      if (ms % 50 === 0) {
        batch.splice(15, 0, ping(ms));
        sentAt.set(ms, link.now);
      }
      if (ms % 100 === 25) {
        batch.splice(7, 0, dns(ms));
        sentAt.set(ms, link.now);
      }
      queue.sendPackets(batch);
      link.tick();
    }
    for (let ms = 0; ms < 1_000; ms++) link.tick();
    const sparse = link.delivered.filter(({ packet }) => portOf(packet) !== 40_000);
    const delays = sparse.map(({ packet, at }) => at - (sentAt.get(idOf(packet)) ?? Number.NaN));
    const bulkDelays = link.delivered
      .filter(({ packet }) => portOf(packet) === 40_000)
      .map(({ packet, at }) => at - Math.floor((idOf(packet) - 1_000_000) / 30));
    return { queue, later, sparse, delays, bulkDelays, link };
  }

  it("drops no ping and no DNS query, while the saturating flow loses packets, counted by reason", () => {
    const { queue, later, sparse } = saturate();
    expect(sparse.filter(({ packet }) => packet[9] === 1)).toHaveLength(60);
    expect(sparse.filter(({ packet }) => packet[9] === 17)).toHaveLength(30);
    expect(queue.drops.queue_delay + queue.drops.fattest_flow).toBeGreaterThan(0);
    expect(later.queue_delay + later.fattest_flow).toBe(queue.drops.queue_delay + queue.drops.fattest_flow);
  });

  it("does not queue them behind it: each leaves within two frames of arriving", () => {
    const { delays, bulkDelays } = saturate();
    // What the socket may hold (16 KiB, plus the frame that took it past that), then its own
    // frame: at most (16 + 2 x 64) KiB, 14.7 ms at this rate.
    expect(Math.max(...delays)).toBeLessThanOrEqual(15);
    // The saturating flow's packets, meanwhile, wait in its own queue, several times longer.
    const sorted = bulkDelays.sort((a, b) => a - b);
    expect(sorted[Math.floor(sorted.length / 2)]).toBeGreaterThan(50);
  });
});

describe("FlowQueue: fairness", () => {
  it("shares the link between two bulk flows within 10 % by bytes", () => {
    const link = new Link(10_000);
    const { queue } = queueOn(link, { sinkTargetBytes: 16 * 1024 });
    let id = 0;
    for (let ms = 0; ms < 2_000; ms++) {
      const batch: Uint8Array[] = [];
      // One flow sends 3x as many packets as the other; both exceed their share.
      for (let i = 0; i < 30; i++) batch.push(tcp(1111, id++));
      for (let i = 0; i < 10; i++) batch.push(tcp(2222, id++));
      queue.sendPackets(batch);
      link.tick();
    }
    const bytes = (port: number) =>
      link.delivered
        .filter(({ packet, at }) => portOf(packet) === port && at > 500)
        .reduce((sum, { packet }) => sum + packet.length, 0);
    const ratio = bytes(1111) / bytes(2222);
    expect(ratio).toBeGreaterThan(0.9);
    expect(ratio).toBeLessThan(1.1);
  });
});

describe("FlowQueue: the queue down the path", () => {
  it("drops from a bulk flow, never a ping, when the round trip grows while the socket keeps up", () => {
    const link = new Link(1_000_000); // the socket never holds anything: the queue is downstream
    const { queue } = queueOn(link);
    let id = 0;
    const pings: number[] = [];
    for (let ms = 0; ms < 3_000; ms++) {
      if (ms % 50 === 0) {
        // End-to-end PING answered: a base of 20 ms, then 60 ms (40 ms of queue down the path).
        queue.pathRtt(ms < 200 ? 20 : 60);
      }
      const batch = [tcp(40_000, id++), tcp(40_000, id++)];
      if (ms % 20 === 0) {
        batch.push(ping(ms));
        pings.push(ms);
      }
      queue.sendPackets(batch);
      link.tick();
    }
    expect(queue.drops.queue_delay).toBeGreaterThan(10);
    const delivered = link.delivered
      .filter(({ packet }) => packet[9] === 1)
      .map(({ packet }) => idOf(packet));
    expect(delivered).toEqual(pings);
  });

  it("drops nothing for the round trip's growth while this end mostly receives (its ACKs)", () => {
    const link = new Link(1_000_000);
    const { queue } = queueOn(link);
    for (let ms = 0; ms < 2_000; ms++) {
      if (ms % 50 === 0) queue.pathRtt(ms < 200 ? 20 : 60);
      queue.received(100_000);
      queue.sendPackets([tcp(40_000, ms, 40), tcp(40_000, ms, 40)]);
      link.tick();
    }
    expect(queue.drops.queue_delay).toBe(0);
  });
});

describe("FlowQueue: memory bound", () => {
  it("holds at most its byte bound, dropping from the fattest flow, and keeps the small flow's packets", () => {
    const link = new Link(0); // the socket takes nothing
    const { queue, later } = queueOn(link, { maxQueuedBytes: 1024 * 1024, sinkTargetBytes: 16 * 1024 });
    let id = 0;
    for (let round = 0; round < 100; round++) {
      queue.sendPackets(Array.from({ length: 20 }, () => tcp(40_000, id++)));
      if (round % 10 === 0) queue.sendPackets([tcp(50_000, round, 100)]);
      expect(queue.queuedBytes).toBeLessThanOrEqual(1024 * 1024);
    }
    expect(queue.drops.fattest_flow).toBeGreaterThan(0);
    expect(later.fattest_flow).toBe(queue.drops.fattest_flow);
    link.bytesPerMs = 100_000;
    for (let ms = 0; ms < 100; ms++) link.tick();
    const small = link.delivered
      .filter(({ packet }) => portOf(packet) === 50_000)
      .map(({ packet }) => idOf(packet));
    expect(small).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
  });

  it("bounds the packet count too", () => {
    const link = new Link(0);
    const { queue } = queueOn(link, { maxQueuedPackets: 500, sinkTargetBytes: 1 });
    for (let round = 0; round < 10; round++) {
      queue.sendPackets(Array.from({ length: 100 }, (_, i) => tcp(40_000, i, 10)));
    }
    expect(queue.queuedPackets).toBeLessThanOrEqual(500);
    expect(queue.drops.fattest_flow).toBeGreaterThan(0);
  });
});

describe("FlowQueue: the socket side", () => {
  it("sends a lone packet at once, in its own frame", () => {
    const frames: Uint8Array[] = [];
    const queue = new FlowQueue({ bufferedAmount: 0, write: (frame) => frames.push(frame) });
    const result = queue.sendPackets([ping(1)]);
    expect(result).toMatchObject({ packets: 1, bytes: 84, dropped: 0 });
    expect(frames).toHaveLength(1);
    expect(decodeFrame(frames[0]!)).toMatchObject({ type: FrameType.DATA, packets: [ping(1)] });
  });

  it("packs what is ready into frames of at most 64 KiB", () => {
    const { queue, frames } = drainingQueue();
    queue.sendPackets(Array.from({ length: 200 }, (_, i) => tcp(1000 + (i % 7), i)));
    expect(frames.length).toBeGreaterThan(1);
    expect(frames.every((frame) => frame.length <= 64 * 1024)).toBe(true);
    const packets = dataSlots(frames);
    expect(packets).toHaveLength(200);
  });

  it("sends control frames at once, even when the socket is backed up", () => {
    const frames: Uint8Array[] = [];
    const queue = new FlowQueue(
      { bufferedAmount: 0, write: (frame) => frames.push(frame) },
      { sinkTargetBytes: 1 },
    );
    queue.sendPackets([tcp(1, 1)]); // goes out, and is never taken
    queue.sendPackets([tcp(1, 2)]); // so this one waits
    const pingFrame = encodeFrame({ type: FrameType.PING, hop: Hop.END_TO_END, id: 7, sentAt: 1 });
    queue.sendControl(pingFrame);
    expect(frames.at(-1)).toEqual(pingFrame);
    expect(queue.queuedPackets).toBe(1);
  });

  it("carries a super-packet in its DATA slot, prefix and segment size in front, one per message", () => {
    const { queue, frames } = drainingQueue();
    const big = tcp(1, 1, 60_000);
    queue.sendPackets([big, ping(1), big], Uint16Array.of(1448, 0, 1448));
    const slots = dataSlots(frames);
    expect(slots.map((slot) => unwrapSlot(slot)?.segmentSize)).toEqual([1448, 0, 1448]);
    expect(unwrapSlot(slots[0]!)?.packet).toEqual(big);
    expect(frames.every((frame) => frame.length <= 64 * 1024)).toBe(true);
  });

  it("packs frames that stay within 64 KiB once sealed, the largest super-packet's alone included", () => {
    const { queue, frames } = drainingQueue();
    const largest = tcp(9, 1, SUPER_PACKET_MAX_BYTES - 40);
    expect(largest.length).toBe(SUPER_PACKET_MAX_BYTES);
    queue.sendPackets([largest], [1348]);
    queue.sendPackets(Array.from({ length: 200 }, (_, i) => tcp(2, i)));
    expect(frames.length).toBeGreaterThan(4);
    for (const frame of frames) expect(frame.length + SEAL_ROOM_BYTES).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    // Packed to the brim: the frames of full-size packets leave less than one packet of room.
    expect(frames[1]!.length + SEAL_ROOM_BYTES + 1402).toBeGreaterThan(MAX_MESSAGE_BYTES);
  });

  it("classifies a super-packet by its inner header: its flow's ordinary packets stay behind it", () => {
    const link = new Link(100_000);
    const { queue } = queueOn(link);
    const big = tcp(1, 1, 20_000);
    queue.sendPackets([big, tcp(1, 2), dns(3), tcp(1, 4)], [1348, 0, 0, 0]);
    for (let i = 0; i < 10; i++) link.tick();
    const ids = link.delivered.map(({ packet }) => {
      const unwrapped = unwrapSlot(packet)!;
      return `${unwrapped.segmentSize > 0 ? "super" : ""}${new DataView(unwrapped.packet.buffer, unwrapped.packet.byteOffset).getUint32(unwrapped.packet[9] === 17 ? 28 : 40)}`;
    });
    // The DNS query is a flow of its own (served first, as new); flow 1 keeps its order.
    expect(ids.filter((id) => id !== "3")).toEqual(["super1", "2", "4"]);
    expect(ids).toContain("3");
  });

  it("refuses a packet no frame can carry, counting it as frame_too_large", () => {
    const queue = new FlowQueue({ bufferedAmount: 0, write: () => undefined });
    expect(queue.sendPackets([new Uint8Array(70_000), ping(1)])).toMatchObject({
      packets: 1,
      dropped: 1,
      reason: "frame_too_large",
    });
    expect(queue.drops.frame_too_large).toBe(1);
  });
});

describe("FlowQueue: a super-packet loses one segment per drop, not all of them", () => {
  const MSS = 1448;
  const SEGMENTS = 44;
  /** IP + TCP headers of the test flow, bytes. */
  const headers = (version: 4 | 6) => (version === 4 ? 40 : 60);

  /** Super-packets of one TCP flow, SEGMENTS full segments each, seq continuing (partial checksum). */
  function superPackets(version: 4 | 6 = 4, ecn: number = Ecn.NOT_ECT) {
    const template = buildTransportPacket({
      version,
      protocol: "tcp",
      sourcePort: 40_000,
      seq: 0,
      payload: pattern(SEGMENTS * MSS),
      checksum: "partial",
    });
    if (version === 6) template[1] = template[1]! | (ecn << 4);
    else if (ecn !== Ecn.NOT_ECT) throw new Error("IPv6 only: the IPv4 header checksum is not redone here");
    let next = 0;
    return () => {
      const packet = template.slice();
      new DataView(packet.buffer).setUint32(headers(version) - 16, next * SEGMENTS * MSS);
      next++;
      return packet;
    };
  }

  /**
   * One super-packet a millisecond for 1 s into `link` (a standing queue at 40 kB/ms: CoDel's
   * signals), then 2 s to drain; returns the segments sent.
   */
  function overload(queue: FlowQueue, link: Link, next: () => Uint8Array): number {
    let sent = 0;
    for (let ms = 0; ms < 1_000; ms++) {
      queue.sendPackets([next()], [MSS]);
      sent += SEGMENTS;
      link.tick();
    }
    for (let ms = 0; ms < 2_000; ms++) link.tick();
    return sent;
  }

  /** The segments the link delivered, split from their slots: seq numbers, and the cut slots' segments. */
  function deliveredSegments(link: Link) {
    const seqs: number[] = [];
    const ofCutSlots: Uint8Array[] = [];
    for (const { packet: slot } of link.delivered) {
      const { packet, segmentSize } = unwrapSlot(slot)!;
      const segments = segmentSize > 0 ? gsoSplit(packet, segmentSize) : [packet];
      if (typeof segments === "string") throw new Error(segments);
      for (const segment of segments) seqs.push(tcpSeq(segment));
      if (segments.length < SEGMENTS) ofCutSlots.push(...segments);
    }
    return { seqs, ofCutSlots };
  }

  for (const version of [4, 6] as const) {
    it(`IPv${version} under CoDel: each drop is one segment, and every super-packet delivered is whole and valid`, () => {
      // One super-packet a millisecond (510 Mbit/s) into 320 Mbit/s: a standing queue, CoDel drops.
      const link = new Link(40_000);
      const { queue, later, laterBytes } = queueOn(link, { maxQueuedBytes: 64 * 1024 * 1024 });
      const next = superPackets(version);
      const sent = overload(queue, link, next);

      const drops = queue.drops.queue_delay;
      expect(drops).toBeGreaterThan(5);
      expect(queue.drops.fattest_flow).toBe(0);
      expect(later.queue_delay).toBe(drops);
      expect(queue.droppedBytes.queue_delay).toBe(drops * (headers(version) + MSS));
      expect(laterBytes.queue_delay).toBe(queue.droppedBytes.queue_delay);

      const { seqs, ofCutSlots } = deliveredSegments(link);
      // Nothing else lost, nothing twice, in order: what arrived is what was sent less the drops.
      expect(seqs.length).toBe(sent - drops);
      expect(new Set(seqs).size).toBe(seqs.length);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      // Each drop took a single segment: no two missing segments are next to each other.
      const missing: number[] = [];
      let expected = 0;
      for (const seq of seqs) {
        for (; expected < seq; expected += MSS) missing.push(expected / MSS);
        expected = seq + MSS;
      }
      expect(missing).toHaveLength(drops);
      expect(missing.every((segment, i) => i === 0 || segment - missing[i - 1]! > 1)).toBe(true);
      // The super-packets that lost a segment still split into valid segments.
      expect(ofCutSlots.length).toBe(drops * (SEGMENTS - 1));
      expect(ofCutSlots.every(checksumsValid)).toBe(true);
    });
  }

  it("marks an ECN-capable flow's super-packets CE instead of dropping: every segment arrives, the marked ones counted", () => {
    const link = new Link(40_000);
    const marks: number[] = [];
    const { queue } = queueOn(link, {
      maxQueuedBytes: 64 * 1024 * 1024,
      marked: (segments) => marks.push(segments),
    });
    const next = superPackets(6, Ecn.ECT0);
    const sent = overload(queue, link, next);
    expect(queue.drops.queue_delay).toBe(0);
    expect(queue.ceMarked).toBeGreaterThan(5 * SEGMENTS);
    expect(marks.reduce((a, b) => a + b, 0)).toBe(queue.ceMarked);
    const segments = link.delivered.flatMap(({ packet: slot }) => {
      const { packet, segmentSize } = unwrapSlot(slot)!;
      return gsoSplit(packet, segmentSize) as Uint8Array[];
    });
    expect(segments.map(tcpSeq)).toEqual(segments.map((_, i) => i * MSS));
    expect(segments).toHaveLength(sent);
    expect(segments.filter((segment) => ecnOf(segment) === Ecn.CE)).toHaveLength(queue.ceMarked);
  });

  it("past the memory bound: segments from the fattest flow's head, a batch at most, the head cut not dropped whole", () => {
    const link = new Link(0); // the socket takes nothing
    const bound = 1024 * 1024;
    const { queue, later, reports } = queueOn(link, { maxQueuedBytes: bound, sinkTargetBytes: 1 });
    const next = superPackets();
    let sent = 0;
    for (let i = 0; i < 40; i++) {
      queue.sendPackets([next()], [MSS]);
      sent += SEGMENTS;
      expect(queue.queuedBytes).toBeLessThanOrEqual(bound);
    }
    const drops = queue.drops.fattest_flow;
    expect(drops).toBeGreaterThan(0);
    expect(later.fattest_flow).toBe(drops);
    expect(Math.max(...reports)).toBeLessThanOrEqual(FATTEST_FLOW_DROP_SEGMENTS);
    // Whole super-packets would be 44 segments each: a batch that ends inside one cut it.
    expect(drops % SEGMENTS).not.toBe(0);
    expect(queue.droppedBytes.fattest_flow).toBe(drops * (headers(4) + MSS));

    link.bytesPerMs = 1_000_000;
    for (let ms = 0; ms < 10; ms++) link.tick();
    const { seqs, ofCutSlots } = deliveredSegments(link);
    // The first super-packet went to the socket before anything queued; the drops came off the
    // queue's head, so what follows it is the end of the flow, complete and in order.
    expect(seqs.length).toBe(sent - drops);
    expect(seqs).toEqual(seqs.map((_, i) => (i < SEGMENTS ? i : drops + i) * MSS));
    expect(ofCutSlots.length).toBeGreaterThan(0);
    expect(ofCutSlots.every(checksumsValid)).toBe(true);
  });
});

describe("flowHash: what makes a flow", () => {
  it("tells flows apart by ports, and keeps a flow's packets together", () => {
    expect(flowHash(tcp(1, 1))).toBe(flowHash(tcp(1, 2, 10)));
    expect(flowHash(tcp(1, 1))).not.toBe(flowHash(tcp(2, 1)));
    const v6a = buildTransportPacket({ version: 6, protocol: "udp", sourcePort: 1, payload: pattern(5) });
    const v6b = buildTransportPacket({ version: 6, protocol: "udp", sourcePort: 2, payload: pattern(5) });
    expect(flowHash(v6a)).not.toBe(flowHash(v6b));
    expect(flowHash(v6a)).toBe(flowHash(v6a.slice()));
  });

  it("hashes IPv4 fragments by addresses and protocol, so a datagram's fragments share a queue", () => {
    const first = buildTransportPacket({
      version: 4,
      protocol: "udp",
      sourcePort: 1234,
      payload: pattern(100),
    });
    first[6] = 0x20; // more fragments, offset 0: the ports are there
    const later = first.slice();
    later[6] = 0x00;
    later[7] = 0x10; // offset 16 x 8: payload bytes where the ports were
    later.fill(0x55, 20, 28);
    expect(flowHash(first)).toBe(flowHash(later));
  });

  it("hashes an IPv6 fragment header by addresses alone, and ICMP by addresses", () => {
    const fragment = buildTransportPacket({
      version: 6,
      protocol: "udp",
      sourcePort: 1,
      payload: pattern(30),
    });
    fragment[6] = 44;
    const other = fragment.slice();
    other.fill(0x77, 40, 48);
    expect(flowHash(fragment)).toBe(flowHash(other));
    const echo = ping(1);
    const echo2 = ping(2);
    echo2[24] = 9; // another ICMP id
    expect(flowHash(echo)).toBe(flowHash(echo2));
  });

  it("puts anything that is not IP in one flow of its own", () => {
    expect(flowHash(new Uint8Array([0x00, 1, 2]))).toBe(flowHash(new Uint8Array([0x10])));
  });
});
