// The send side of a tunnel end (tunnel/end.ts): DATA packed from whatever packets are ready,
// and the transport's backlog held short in time by CoDel and in bytes by a hard cap. Control
// frames (handshake, PING, CLOSE) are never dropped. It hands whole frames to a FrameSink (the
// tunnel end, which encodes, and in v2 seals, each frame for the wire) and knows nothing else.
import { packDataFrames } from "./batch.js";
import { CODEL_TARGET_MS, CoDel } from "./codel.js";
import { MAX_PACKET_BYTES, MAX_PACKETS_PER_FRAME } from "./limits.js";
import { MAX_CARRIED_SUPER_PACKET_BYTES, wrapSuperPacket } from "./super-packet.js";

/**
 * Most bytes the socket may hold unsent before DATA is dropped whatever CoDel says: a backstop for
 * a socket that stops draining altogether (the heartbeat then closes it within seconds).
 */
export const MAX_SEND_BUFFER_BYTES = 4 * 1024 * 1024;

export type SendDropReason =
  | "queue_delay"
  | "send_buffer_full"
  | "frame_too_large"
  /** A super-packet whose headers do not hold up (it cannot be split or cut), or unasked for. */
  | "bad_super_packet";

/** A WebSocket-like socket (send with completion, bufferedAmount); tunnel ends use a Transport. */
export interface FrameSocket {
  readonly bufferedAmount: number;
  send(data: Uint8Array | string, callback: (error?: Error) => void): void;
}

/** Where a send queue puts frames: the tunnel end's one way to the wire. */
export interface FrameSink {
  /** Bytes handed to the transport and not yet taken by it (Transport.bufferedAmount). */
  readonly bufferedAmount: number;
  /** Puts one frame on the wire; `taken` once the transport has handed it on (or failed to). */
  write(frame: Uint8Array, taken: () => void): void;
}

/**
 * What a tunnel end needs of its send queue: SendQueue here, or a queue per flow (the same shape)
 * in its place. Chosen by the tunnel end's `queue` option.
 */
export interface PacketQueue {
  /** Frames written and not yet taken by the transport. */
  readonly queued: number;
  /** A handshake, PING or CLOSE frame: always sent, at once. */
  sendControl(frame: Uint8Array): void;
  /**
   * IP packets, packed into DATA frames, unless the queue is too long (then dropped, counted).
   * With `segmentSizes`, a packet whose entry is not 0 is a super-packet of segments that size,
   * carried in its DATA slot with its prefix (super-packet.ts): only for a peer that takes them.
   */
  sendPackets(packets: readonly Uint8Array[], segmentSizes?: ArrayLike<number>): SendResult;
  /** A round trip measured end to end through this leg, ms (an end-to-end PING's PONG). */
  pathRtt(rttMs: number): void;
  /** IP bytes arrived from the far end (which way the traffic mostly goes). */
  received(bytes: number): void;
}

export interface SendResult {
  /** Packets and IP bytes handed to the socket. */
  packets: number;
  bytes: number;
  /** Packets dropped, and why (one reason per call: a batch is dropped whole or not at all). */
  dropped: number;
  reason: SendDropReason | undefined;
}

export interface SendQueueOptions {
  /** Packets per DATA frame at most (1 turns batching off, for measurements). */
  maxPacketsPerFrame?: number;
  now?: () => number;
  /** Told each frame's sojourn (queued to taken by the socket), ms: for a queue-delay metric. */
  sojourn?: ((ms: number) => void) | undefined;
}

/**
 * How long the smallest round trip seen stands for the path's base delay, ms: long enough to
 * catch a quiet moment between bursts, short enough to follow a path that really changed.
 */
export const BASE_RTT_WINDOW_MS = 10_000;

export class SendQueue implements PacketQueue {
  readonly codel = new CoDel();
  private pending = 0;
  /** Latest time a frame waited in the socket here, ms. */
  private localDelay = 0;
  /** Latest estimate of the queue further down the path (a round trip above its base), ms. */
  private pathDelay = 0;
  /** Smallest round trip in the previous and the current half window: their min is the base. */
  private readonly rttMins = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
  private rttWindowStart = 0;
  /** IP bytes sent and received since the last round trip: which way the traffic mostly goes. */
  private sentSinceRtt = 0;
  private receivedSinceRtt = 0;
  private readonly maxPacketsPerFrame: number;
  private readonly now: () => number;
  private readonly sojourn: ((ms: number) => void) | undefined;

  constructor(
    private readonly sink: FrameSink,
    options: SendQueueOptions = {},
  ) {
    this.maxPacketsPerFrame = options.maxPacketsPerFrame ?? MAX_PACKETS_PER_FRAME;
    this.now = options.now ?? Date.now;
    this.sojourn = options.sojourn;
  }

  /** Frames in the socket's queue that it has not taken yet. */
  get queued(): number {
    return this.pending;
  }

  /** A handshake, PING or CLOSE frame: always sent. */
  sendControl(frame: Uint8Array): void {
    this.write(frame);
  }

  /** IP packets, packed into DATA frames, unless the queue is too long (then dropped, counted). */
  sendPackets(packets: readonly Uint8Array[], segmentSizes?: ArrayLike<number>): SendResult {
    let tooLarge = 0;
    if (segmentSizes) {
      // Each super-packet in its slot, prefix in front; one too large for a slot is dropped.
      const slots: Uint8Array[] = [];
      for (let i = 0; i < packets.length; i++) {
        const segmentSize = segmentSizes[i] ?? 0;
        const packet = packets[i]!;
        if (segmentSize === 0) slots.push(packet);
        else if (packet.length <= MAX_CARRIED_SUPER_PACKET_BYTES)
          slots.push(wrapSuperPacket(packet, segmentSize));
        else tooLarge++;
      }
      packets = slots;
    }
    const sent = this.sendSlots(packets);
    if (tooLarge === 0) return sent;
    return { ...sent, dropped: sent.dropped + tooLarge, reason: sent.reason ?? "frame_too_large" };
  }

  private sendSlots(packets: readonly Uint8Array[]): SendResult {
    const now = this.now();
    if (this.sink.bufferedAmount > MAX_SEND_BUFFER_BYTES) {
      return { packets: 0, bytes: 0, dropped: packets.length, reason: "send_buffer_full" };
    }
    if (this.pending === 0 && this.pathDelay < CODEL_TARGET_MS) this.codel.drained();
    else if (this.codel.shouldDrop(now)) {
      return { packets: 0, bytes: 0, dropped: packets.length, reason: "queue_delay" };
    }
    let bytes = 0;
    for (const packet of packets) if (packet.length <= MAX_PACKET_BYTES) bytes += packet.length;
    const oversized = packDataFrames(packets, (frame) => this.write(frame), this.maxPacketsPerFrame);
    this.sentSinceRtt += bytes;
    return {
      packets: packets.length - oversized,
      bytes,
      dropped: oversized,
      reason: oversized ? "frame_too_large" : undefined,
    };
  }

  /**
   * A round trip measured through this leg to the far end (an end-to-end PING's PONG). The queue
   * that matters is often not here but downstream, where no socket option reaches: the phone's
   * kernel buffer in front of a slow uplink. What the round trip has grown above its base is that
   * queue; CoDel sees it added to the local one.
   */
  pathRtt(rttMs: number): void {
    const now = this.now();
    if (now - this.rttWindowStart > BASE_RTT_WINDOW_MS / 2) {
      this.rttMins[0] = this.rttMins[1]!;
      this.rttMins[1] = Number.POSITIVE_INFINITY;
      this.rttWindowStart = now;
    }
    this.rttMins[1] = Math.min(this.rttMins[1]!, rttMs);
    // A round trip grows with the queues of both directions. Only the direction carrying most of
    // the bytes has a queue worth acting on; the other carries its ACKs, which must not be
    // dropped for the far side's queue.
    const sendingMost = this.sentSinceRtt >= this.receivedSinceRtt;
    this.sentSinceRtt = 0;
    this.receivedSinceRtt = 0;
    this.pathDelay = sendingMost ? rttMs - Math.min(this.rttMins[0]!, this.rttMins[1]!) : 0;
    this.codel.observe(this.localDelay + this.pathDelay, now);
  }

  /** IP bytes arrived from the far end (for pathRtt: which way the traffic mostly goes). */
  received(bytes: number): void {
    this.receivedSinceRtt += bytes;
  }

  private write(frame: Uint8Array): void {
    const queuedAt = this.now();
    this.pending++;
    this.sink.write(frame, () => {
      this.pending--;
      const now = this.now();
      this.localDelay = now - queuedAt;
      this.codel.observe(this.localDelay + this.pathDelay, now);
      this.sojourn?.(this.localDelay);
    });
  }
}
