// Flow isolation in a tunnel end's send path: fq_codel (RFC 8290) in front of the leg's socket.
// The socket is kept nearly empty (SINK_TARGET_BYTES not yet taken by it) so that what waits,
// waits here, in per-flow queues, where it can be scheduled and dropped per flow:
//
//   sendPackets ──> classify (5-tuple hash, FLOW_BUCKETS buckets) ──> that flow's queue
//                     (memory bound: past it, the fattest flow loses packets from its head)
//   socket took a frame, or packets arrived ──> pump: while the socket holds little,
//     pick a flow: new flows first (a flow that just became active, e.g. a ping or a DNS query),
//     then old ones, deficit round robin by bytes (QUANTUM_BYTES a turn);
//     its head packet waited too long (CoDel per flow: time here + the path delay)? an
//       ECN-capable one is marked CE and sent (ecn.ts); else drop it, or of a super-packet only
//       its first segment (segment-drop.ts), and go on;
//     pack what is picked into one DATA frame (at most MAX_MESSAGE_BYTES) ──> socket
//
// A sparse flow never builds a queue, so its packets go out within one frame of arriving and
// CoDel never drops them; a bulk flow's queue grows, and CoDel drops from it alone. When the queue
// is down the path (the phone's socket buffer in front of a slow uplink: the round trip grows, the
// queue here stays empty), CoDel still acts on each flow's packets, with the path delay, but only
// on flows that sent more than SPARSE_FLOW_BYTES in the last interval: a ping, a DNS query or a
// keystroke is never dropped for a queue a bulk flow built. Control frames (handshake, PING,
// CLOSE) skip the queues. Nothing here touches Node APIs: the socket is a FrameSink.
//
// Drops are counted in segments and IP bytes as they would cross the wire: a super-packet slot
// stands for up to ~45 TCP segments, and both CoDel and the memory bound cut segments off its head
// rather than drop it whole (cake's split-gso), so one congestion signal costs the inner TCP one
// retransmission, not 45. CoDel's cadence (interval / sqrt(count)) stays one drop per signal, in
// time: TCP halves its window once per loss event however many segments the event took.

import { dataFrameBytes, encodeData } from "./codec.js";
import { CODEL_INTERVAL_MS, CoDel } from "./codel.js";
import { markCongestion } from "./ecn.js";
import { MAX_PACKET_BYTES, MAX_PACKETS_PER_FRAME } from "./limits.js";
import { dropHeadSegments, slotSize } from "./segment-drop.js";
import { BASE_RTT_WINDOW_MS, type FrameSink, type PacketQueue, type SendResult } from "./send-queue.js";
import { MAX_CARRIED_SUPER_PACKET_BYTES, wrapSuperPacket } from "./super-packet.js";

/** Hash buckets, each a flow queue (fq_codel's default): collisions share a queue, memory is fixed. */
export const FLOW_BUCKETS = 1024;

/** Bytes a flow may send per round before the next flow's turn: one full-size Ethernet frame. */
export const QUANTUM_BYTES = 1514;

/**
 * Bytes handed to the socket and not yet taken by it, at most: a frame or two, so that the queue
 * builds here (where flows are told apart) rather than in the socket (first in, first out).
 */
export const SINK_TARGET_BYTES = 128 * 1024;

/**
 * Largest DATA frame packed from several packets, bytes: Chromium's WebSocket data pipe on Android
 * is 64 KiB, and a bigger message is reassembled with an extra copy. A single packet may exceed it.
 */
export const MAX_MESSAGE_BYTES = 64 * 1024;

/**
 * Bytes sealing adds to a frame on the wire (protocol v2's counter and tag: SEAL_OVERHEAD_BYTES
 * of tunnel/seal.ts, which a test checks this equals). Packed frames leave room for it, so that a
 * sealed message stays within MAX_MESSAGE_BYTES; so does the largest super-packet a TUN hands over
 * (SUPER_PACKET_MAX_BYTES of tun/device.ts) in a frame of its own.
 */
export const SEAL_ROOM_BYTES = 24;

/**
 * IP bytes a flow may send per CoDel interval and still count as sparse, whose last queued packet
 * is never dropped (about 500 kbit/s: interactive traffic, DNS, pings; not a transfer).
 */
export const SPARSE_FLOW_BYTES = 4 * QUANTUM_BYTES;

/** IP bytes queued across all flows, at most (as the old send queue's byte cap): then the fattest flow loses. */
export const MAX_QUEUED_BYTES = 4 * 1024 * 1024;

/** Packets queued across all flows, at most: bounds the bookkeeping of many tiny packets. */
export const MAX_QUEUED_PACKETS = 16_384;

/**
 * Segments the memory bound drops from the fattest flow's head at once, at most (fq_codel's
 * drop_batch_size, in segments: about 1.5 super-packets, more than one arriving slot frees): one
 * scan of the buckets per burst of drops, not per packet, and not half a flow's queue at once.
 */
export const FATTEST_FLOW_DROP_SEGMENTS = 64;

export type FlowDropReason =
  /** CoDel: the packet had waited (here plus down the path) above target for an interval. */
  | "queue_delay"
  /** The memory bound: dropped from the head of the flow holding the most bytes. */
  | "fattest_flow"
  /** Larger than a DATA frame can carry. */
  | "frame_too_large";

export interface FlowQueueOptions {
  now?: () => number;
  /**
   * Told of drops made after sendPackets returned (CoDel, memory bound), by reason: IP packets as
   * they would cross the wire (a super-packet's segments) and their bytes.
   */
  dropped?: (reason: FlowDropReason, segments: number, bytes: number) => void;
  /** Told of CoDel's signals sent as ECN marks instead of drops: the segments marked CE. */
  marked?: (segments: number) => void;
  /** Told each frame's time from handed over to taken by the socket, ms. */
  sojourn?: ((ms: number) => void) | undefined;
  /** Packets per DATA frame at most (1 turns batching off, for measurements). */
  maxPacketsPerFrame?: number;
  /** Largest message packed, sealed (default MAX_MESSAGE_BYTES; frames are SEAL_ROOM_BYTES smaller). */
  maxMessageBytes?: number;
  /** Bytes handed to the socket and not yet taken, at most (default SINK_TARGET_BYTES). */
  sinkTargetBytes?: number;
  maxQueuedBytes?: number;
  maxQueuedPackets?: number;
  /** Seeds the flow hash, so that outsiders cannot aim flows at one bucket. Default random. */
  hashSeed?: number;
}

/** One bucket: a flow's packets in arrival order, its DRR deficit and its CoDel. */
class Flow {
  packets: Uint8Array[] = [];
  times: number[] = [];
  head = 0;
  bytes = 0;
  deficit = 0;
  /** Which list the flow is on: none (idle), new or old. */
  list: 0 | 1 | 2 = 0;
  readonly codel = new CoDel();
  /** Bytes queued since windowStart (one CoDel interval): sparse or bulk. */
  recentBytes = 0;
  windowStart = Number.NEGATIVE_INFINITY;
  /** When a packet of it last arrived, ms. */
  lastArrival = Number.NEGATIVE_INFINITY;

  /** Counts an arrival; true if the flow had been idle for a CoDel interval (its state is stale). */
  arrived(bytes: number, now: number): boolean {
    const stale = now - this.lastArrival > CODEL_INTERVAL_MS;
    this.lastArrival = now;
    if (now - this.windowStart > CODEL_INTERVAL_MS) {
      this.windowStart = now;
      this.recentBytes = 0;
    }
    this.recentBytes += bytes;
    return stale;
  }

  get sparse(): boolean {
    return this.recentBytes <= SPARSE_FLOW_BYTES;
  }

  get length(): number {
    return this.packets.length - this.head;
  }

  push(packet: Uint8Array, time: number): void {
    this.packets.push(packet);
    this.times.push(time);
    this.bytes += packet.length;
  }

  shift(): Uint8Array | undefined {
    if (this.head >= this.packets.length) return undefined;
    const packet = this.packets[this.head]!;
    this.packets[this.head] = EMPTY;
    this.head++;
    this.bytes -= packet.length;
    if (this.head === this.packets.length) {
      this.packets = [];
      this.times = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.packets.length) {
      this.packets = this.packets.slice(this.head);
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
    return packet;
  }

  headTime(): number {
    return this.times[this.head] ?? 0;
  }

  peek(): Uint8Array | undefined {
    return this.head < this.packets.length ? this.packets[this.head] : undefined;
  }

  /** The head packet, cut shorter (segments dropped off a super-packet), keeps its place and time. */
  replaceHead(packet: Uint8Array): void {
    this.bytes += packet.length - this.packets[this.head]!.length;
    this.packets[this.head] = packet;
  }
}

const EMPTY = new Uint8Array(0);
const NEW = 1;
const OLD = 2;

export class FlowQueue implements PacketQueue {
  /**
   * Every drop since creation, by reason, in IP packets as they would cross the wire (a
   * super-packet's segments; frame_too_large: the refused packets or slots themselves).
   */
  readonly drops: Record<FlowDropReason, number> = { queue_delay: 0, fattest_flow: 0, frame_too_large: 0 };
  /** Segments CoDel marked Congestion Experienced instead of dropping them (ECN-capable flows). */
  ceMarked = 0;
  /** The IP bytes of those drops (a segment with its own headers). */
  readonly droppedBytes: Record<FlowDropReason, number> = {
    queue_delay: 0,
    fattest_flow: 0,
    frame_too_large: 0,
  };
  readonly #sink: FrameSink;
  readonly #now: () => number;
  readonly #dropped: ((reason: FlowDropReason, segments: number, bytes: number) => void) | undefined;
  readonly #sojourn: ((ms: number) => void) | undefined;
  readonly #marked: ((segments: number) => void) | undefined;
  readonly #maxPacketsPerFrame: number;
  /** Largest DATA frame packed from several packets, before sealing. */
  readonly #maxFrameBytes: number;
  readonly #sinkTargetBytes: number;
  readonly #maxQueuedBytes: number;
  readonly #maxQueuedPackets: number;
  readonly #seed: number;
  readonly #flows = new Array<Flow | undefined>(FLOW_BUCKETS);
  /** Flows that just became active, then the rest; each a FIFO of flows (arrays with a head). */
  #newFlows: Flow[] = [];
  #oldFlows: Flow[] = [];
  #queuedBytes = 0;
  #queuedPackets = 0;
  /** Frames and bytes handed to the sink and not yet taken. */
  #pendingFrames = 0;
  #pendingBytes = 0;
  #pumping = false;
  /** Drops counted during a sendPackets call are not reported through `dropped`... */
  #inCall = false;
  /** ...but here, by reason (segments, bytes), and reported once the call's own result is out. */
  readonly #callDrops: Record<FlowDropReason, number> = {
    queue_delay: 0,
    fattest_flow: 0,
    frame_too_large: 0,
  };
  readonly #callDropBytes: Record<FlowDropReason, number> = {
    queue_delay: 0,
    fattest_flow: 0,
    frame_too_large: 0,
  };
  /** Latest time a frame waited in the socket, ms. */
  #sinkDelay = 0;
  /** Latest estimate of the queue further down the path (a round trip above its base), ms. */
  #pathDelay = 0;
  readonly #rttMins = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
  #rttWindowStart = 0;
  #sentSinceRtt = 0;
  #receivedSinceRtt = 0;
  /** A packet picked for a frame it did not fit: first in the next frame. */
  #carry: Uint8Array | undefined;

  constructor(sink: FrameSink, options: FlowQueueOptions = {}) {
    this.#sink = sink;
    this.#now = options.now ?? Date.now;
    this.#dropped = options.dropped;
    this.#sojourn = options.sojourn;
    this.#marked = options.marked;
    this.#maxPacketsPerFrame = options.maxPacketsPerFrame ?? MAX_PACKETS_PER_FRAME;
    this.#maxFrameBytes = (options.maxMessageBytes ?? MAX_MESSAGE_BYTES) - SEAL_ROOM_BYTES;
    this.#sinkTargetBytes = options.sinkTargetBytes ?? SINK_TARGET_BYTES;
    this.#maxQueuedBytes = options.maxQueuedBytes ?? MAX_QUEUED_BYTES;
    this.#maxQueuedPackets = options.maxQueuedPackets ?? MAX_QUEUED_PACKETS;
    this.#seed = options.hashSeed ?? (Math.random() * 0x1_0000_0000) >>> 0;
  }

  /** Frames the socket has not taken yet. */
  get queued(): number {
    return this.#pendingFrames;
  }

  /** Packets and IP bytes waiting in the flow queues. */
  get queuedPackets(): number {
    return this.#queuedPackets;
  }

  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Flows with packets waiting. */
  get activeFlows(): number {
    let active = 0;
    for (const flow of this.#flows) if (flow && flow.length > 0) active++;
    return active;
  }

  /** A handshake, PING or CLOSE frame: always sent, at once, ahead of queued DATA. */
  sendControl(frame: Uint8Array): void {
    this.#write(frame);
  }

  /**
   * IP packets: queued per flow and sent as the socket takes frames. The result says what became
   * of these packets now (queued or sent, or refused as too large); later drops (CoDel, memory
   * bound) are counted in `drops` and told to `dropped`. With `segmentSizes`, a packet whose entry
   * is not 0 is a super-packet of segments that size, carried in its DATA slot (super-packet.ts):
   * only for a peer that asked for them.
   */
  sendPackets(packets: readonly Uint8Array[], segmentSizes?: ArrayLike<number>): SendResult {
    const now = this.#now();
    let accepted = 0;
    let bytes = 0;
    let oversized = 0;
    let oversizedBytes = 0;
    this.#inCall = true;
    try {
      for (let i = 0; i < packets.length; i++) {
        const packet = packets[i]!;
        const segmentSize = segmentSizes?.[i] ?? 0;
        const limit = segmentSize > 0 ? MAX_CARRIED_SUPER_PACKET_BYTES : MAX_PACKET_BYTES;
        if (packet.length > limit || packet.length === 0) {
          oversized++;
          oversizedBytes += packet.length;
          continue;
        }
        const flow = this.#flowOf(packet);
        // A packet of a batch is a view into the whole batch: a copy, so that one queued packet
        // does not keep the batch's buffer alive (a super-packet's copy has its prefix in front).
        const slot = segmentSize > 0 ? wrapSuperPacket(packet, segmentSize) : packet.slice();
        if (flow.arrived(slot.length, now) && flow.length === 0) flow.codel.drained();
        flow.push(slot, now);
        this.#queuedBytes += slot.length;
        this.#queuedPackets++;
        if (flow.list === 0) {
          flow.list = NEW;
          flow.deficit = QUANTUM_BYTES;
          this.#newFlows.push(flow);
        }
        accepted++;
        bytes += slot.length;
      }
      this.drops.frame_too_large += oversized;
      this.droppedBytes.frame_too_large += oversizedBytes;
      this.#enforceMemoryBound();
      this.#sentSinceRtt += bytes;
      this.#pump();
    } finally {
      this.#inCall = false;
    }
    this.#reportCallDrops();
    return {
      packets: accepted,
      bytes,
      dropped: oversized,
      reason: oversized ? "frame_too_large" : undefined,
    };
  }

  /** A round trip to the far end (an end-to-end PING's PONG): the path's queue, as in SendQueue. */
  pathRtt(rttMs: number): void {
    const now = this.#now();
    if (now - this.#rttWindowStart > BASE_RTT_WINDOW_MS / 2) {
      this.#rttMins[0] = this.#rttMins[1]!;
      this.#rttMins[1] = Number.POSITIVE_INFINITY;
      this.#rttWindowStart = now;
    }
    this.#rttMins[1] = Math.min(this.#rttMins[1]!, rttMs);
    // Only the direction carrying most bytes acts on the round trip's growth (see SendQueue).
    const sendingMost = this.#sentSinceRtt >= this.#receivedSinceRtt;
    this.#sentSinceRtt = 0;
    this.#receivedSinceRtt = 0;
    this.#pathDelay = sendingMost ? rttMs - Math.min(this.#rttMins[0]!, this.#rttMins[1]!) : 0;
  }

  /** IP bytes arrived from the far end (for pathRtt: which way the traffic mostly goes). */
  received(bytes: number): void {
    this.#receivedSinceRtt += bytes;
  }

  /** Drops every queued packet (the leg is gone); not counted as drops. */
  clear(): void {
    for (const flow of this.#flows) {
      if (!flow) continue;
      flow.packets = [];
      flow.times = [];
      flow.head = 0;
      flow.bytes = 0;
      flow.list = 0;
      flow.recentBytes = 0;
      flow.codel.drained();
    }
    this.#newFlows = [];
    this.#oldFlows = [];
    this.#queuedBytes = 0;
    this.#queuedPackets = 0;
    this.#carry = undefined;
  }

  #flowOf(packet: Uint8Array): Flow {
    const bucket = flowHash(packet, this.#seed) % FLOW_BUCKETS;
    let flow = this.#flows[bucket];
    if (!flow) {
      flow = new Flow();
      this.#flows[bucket] = flow;
    }
    return flow;
  }

  /**
   * Past the memory bound, the fattest flow loses segments from its head (fq_codel_drop): up to
   * FATTEST_FLOW_DROP_SEGMENTS or half its bytes at once, a super-packet cut, not dropped whole,
   * where that is enough.
   */
  #enforceMemoryBound(): void {
    while (this.#queuedBytes > this.#maxQueuedBytes || this.#queuedPackets > this.#maxQueuedPackets) {
      let fattest: Flow | undefined;
      for (const flow of this.#flows) if (flow && (!fattest || flow.bytes > fattest.bytes)) fattest = flow;
      if (!fattest || fattest.length === 0) return;
      const keep = fattest.bytes / 2;
      let budget = FATTEST_FLOW_DROP_SEGMENTS;
      while (
        budget > 0 &&
        fattest.length > 0 &&
        (fattest.bytes > keep || budget === FATTEST_FLOW_DROP_SEGMENTS)
      ) {
        const head = fattest.peek()!;
        const cut = dropHeadSegments(head, budget);
        if (cut) {
          fattest.replaceHead(cut.rest);
          this.#queuedBytes -= head.length - cut.rest.length;
          this.#drop("fattest_flow", cut.dropped.segments, cut.dropped.bytes);
          break;
        }
        const whole = slotSize(head);
        fattest.shift();
        this.#queuedBytes -= head.length;
        this.#queuedPackets--;
        this.#drop("fattest_flow", whole.segments, whole.bytes);
        budget -= whole.segments;
      }
    }
  }

  /** Moves packets into the socket while it holds less than SINK_TARGET_BYTES. */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#pendingBytes < this.#sinkTargetBytes) {
        const frame = this.#nextFrame();
        if (!frame) break;
        this.#write(frame);
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** Packets for one DATA frame in fq_codel order, encoded; undefined when nothing is queued. */
  #nextFrame(): Uint8Array | undefined {
    const packets: Uint8Array[] = [];
    let bytes = 0;
    const now = this.#now();
    for (;;) {
      const packet = this.#carry ?? this.#dequeue(now);
      this.#carry = undefined;
      if (!packet) break;
      if (
        packets.length > 0 &&
        (packets.length >= this.#maxPacketsPerFrame ||
          dataFrameBytes(bytes + packet.length, packets.length + 1) > this.#maxFrameBytes)
      ) {
        this.#carry = packet;
        break;
      }
      packets.push(packet);
      bytes += packet.length;
    }
    return packets.length > 0 ? encodeData(packets) : undefined;
  }

  /** The next packet by DRR over new then old flows, CoDel applied per flow (RFC 8290 dequeue). */
  #dequeue(now: number): Uint8Array | undefined {
    for (;;) {
      const fromNew = this.#newFlows.length > 0;
      const list = fromNew ? this.#newFlows : this.#oldFlows;
      const flow = list[0];
      if (!flow) return undefined;
      if (flow.deficit <= 0) {
        flow.deficit += QUANTUM_BYTES;
        list.shift();
        flow.list = OLD;
        this.#oldFlows.push(flow);
        continue;
      }
      const packet = this.#codelDequeue(flow, now);
      if (!packet) {
        list.shift();
        // An emptied new flow goes to the old list once, so it cannot jump the queue again at once.
        if (fromNew && this.#oldFlows.length > 0) {
          flow.list = OLD;
          this.#oldFlows.push(flow);
        } else {
          flow.list = 0;
        }
        continue;
      }
      flow.deficit -= packet.length;
      return packet;
    }
  }

  /**
   * The flow's head packet, after dropping those CoDel says waited too long: here, in the socket
   * and down the path. The last queued packet of a sparse flow is never dropped (it has no
   * standing queue of its own); a bulk flow's may be, since its queue may be down the path. A
   * packet of an ECN-capable flow is marked CE and sent instead (the signal without the loss). A
   * drop takes one segment: a super-packet loses its first, and the rest is the next packet CoDel
   * looks at (it waited as long, so it goes out unless the control law is due again at once).
   */
  #codelDequeue(flow: Flow, now: number): Uint8Array | undefined {
    for (;;) {
      const queuedAt = flow.headTime();
      let packet = flow.shift();
      if (!packet) return undefined;
      this.#queuedBytes -= packet.length;
      this.#queuedPackets--;
      flow.codel.observe(now - queuedAt + this.#sinkDelay + this.#pathDelay, now);
      if (flow.length === 0 && flow.sparse) return packet;
      while (packet && flow.codel.shouldDrop(now)) {
        if (markCongestion(packet)) {
          const { segments } = slotSize(packet);
          this.ceMarked += segments;
          this.#marked?.(segments);
          return packet;
        }
        const cut = dropHeadSegments(packet, 1);
        const dropped = cut ? cut.dropped : slotSize(packet);
        this.#drop("queue_delay", dropped.segments, dropped.bytes);
        packet = cut?.rest;
      }
      if (packet) return packet;
      if (flow.length === 0) return undefined;
    }
  }

  #write(frame: Uint8Array): void {
    const handedAt = this.#now();
    this.#pendingFrames++;
    this.#pendingBytes += frame.length;
    this.#sink.write(frame, () => {
      this.#pendingFrames--;
      this.#pendingBytes -= frame.length;
      this.#sinkDelay = this.#now() - handedAt;
      this.#sojourn?.(this.#sinkDelay);
      this.#pump();
      this.#reportCallDrops();
    });
  }

  #drop(reason: FlowDropReason, segments: number, bytes: number): void {
    this.drops[reason] += segments;
    this.droppedBytes[reason] += bytes;
    if (this.#inCall) {
      this.#callDrops[reason] += segments;
      this.#callDropBytes[reason] += bytes;
    } else {
      this.#dropped?.(reason, segments, bytes);
    }
  }

  #reportCallDrops(): void {
    if (this.#inCall) return;
    for (const reason of ["queue_delay", "fattest_flow"] as const) {
      const segments = this.#callDrops[reason];
      if (segments === 0) continue;
      const bytes = this.#callDropBytes[reason];
      this.#callDrops[reason] = 0;
      this.#callDropBytes[reason] = 0;
      this.#dropped?.(reason, segments, bytes);
    }
  }
}

/**
 * A hash of the packet's flow: IPv4 or IPv6 addresses, protocol, and for TCP, UDP, UDP-Lite,
 * SCTP and DCCP the ports. Fragments (IPv4 MF or offset, an IPv6 fragment header) hash by
 * addresses and protocol only, so that a datagram's fragments stay in one queue, in order. ICMP
 * and anything else hash by addresses and protocol. Not IP at all: one flow of its own.
 */
export function flowHash(packet: Uint8Array, seed = 0): number {
  const version = packet.length > 0 ? packet[0]! >> 4 : 0;
  let h = seed ^ 0x9e37_79b9;
  let protocol: number;
  let transport: number; // where the ports are, or -1
  if (version === 4 && packet.length >= 20) {
    h = mix(h, word(packet, 12));
    h = mix(h, word(packet, 16));
    protocol = packet[9]!;
    const fragment = (((packet[6]! << 8) | packet[7]!) & 0x3fff) !== 0;
    transport = fragment ? -1 : (packet[0]! & 0x0f) * 4;
  } else if (version === 6 && packet.length >= 40) {
    for (let offset = 8; offset < 40; offset += 4) h = mix(h, word(packet, offset));
    protocol = packet[6]!;
    transport = protocol === IPV6_FRAGMENT ? -1 : 40;
  } else {
    return mix(h, 0xffff_ffff) >>> 0;
  }
  h = mix(h, protocol);
  if (transport >= 0 && HAS_PORTS.has(protocol) && packet.length >= transport + 4) {
    h = mix(h, word(packet, transport));
  }
  return finalMix(h) >>> 0;
}

const IPV6_FRAGMENT = 44;
/** TCP, UDP, DCCP, SCTP, UDP-Lite: the first 4 bytes of the header are the ports. */
const HAS_PORTS: ReadonlySet<number> = new Set([6, 17, 33, 132, 136]);

function word(packet: Uint8Array, offset: number): number {
  return (
    (packet[offset]! << 24) | (packet[offset + 1]! << 16) | (packet[offset + 2]! << 8) | packet[offset + 3]!
  );
}

/** murmur3's 32-bit block step. */
function mix(h: number, k: number): number {
  let x = Math.imul(k, 0xcc9e_2d51);
  x = (x << 15) | (x >>> 17);
  x = Math.imul(x, 0x1b87_3593);
  const y = h ^ x;
  return Math.imul((y << 13) | (y >>> 19), 5) + 0xe654_6b64;
}

/** murmur3's finaliser. */
function finalMix(h: number): number {
  let x = h ^ (h >>> 16);
  x = Math.imul(x, 0x85eb_ca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2_ae35);
  return x ^ (x >>> 16);
}
