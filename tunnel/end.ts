// One tunnel end over one leg: what the laptop and the exit both do with the relay's messages,
// written once. The laptop (laptop/tunnel.ts) and the exit (exit/connection.ts) each make one per
// leg connection and keep only their own state machine and policy (the handshake's steps, what
// DATA may do, sessions).
//
//   outbound: frame ──> send queue (DATA batched, CoDel) ──> wire(): encode (binary | base64) ──> transport
//   inbound:  transport ──> unwire(): decode (unknown types skipped) ──> PING answered, PONG -> path RTT,
//             DATA -> owner.data, CHALLENGE/HELLO/WELCOME -> owner.frame, CLOSE -> owner.peerClosed
//
// Two timers, two jobs: the heartbeat (silence -> the leg is dead -> terminate) and the path probe
// (end-to-end PINGs -> path RTT -> the send queue's CoDel). A ProtocolError from the codec or from
// the owner's handlers ends the connection the one way, end(): a CLOSE frame with the code and a
// reason, then the transport closed with the same code.
//
// `wire` and `unwire` are the only places a frame becomes bytes on the wire and back, and there
// protocol v2 seals and opens (tunnel/seal-leg.ts): once the handshake's keys are installed,
// every end-to-end frame goes out sealed, and what comes in is opened; a frame that fails (forged,
// replayed, clear where it must be sealed) is dropped and counted, never a reason to end. The v2
// handshake frames (HELLO, RESPONSE) reach the owner as their bytes: their layouts are
// tunnel/noise-messages.ts's, not the v1 codec's.
import { decodeFrame, encodeFrame, fitReason } from "../protocol/codec.js";
import { type Encoding, fromMessage, toMessage } from "../protocol/encoding.js";
import { type ErrorCode, ErrorCodes, ProtocolError } from "../protocol/errors.js";
import { type Frame, FrameType, Hop } from "../protocol/frames.js";
import { Heartbeat } from "../protocol/heartbeat.js";
import { HEADER_BYTES } from "../protocol/limits.js";
import { type FrameSink, type PacketQueue, SendQueue, type SendResult } from "../protocol/send-queue.js";
import { CLOSE_NORMAL, type Message, type Transport, type TransportClose } from "../protocol/transport.js";
import { forPeer } from "../tun/gso-peer.js";
import { type ControlRefusal, MAX_UNREAD_BYTES, ReplyBudget } from "./control-budget.js";
import { RESPONSE_TYPE } from "./noise-messages.js";
import { PathProbe } from "./path-probe.js";
import { type LegDropReason, LegSeal } from "./seal-leg.js";

/** Frames a tunnel end hands to its owner: the handshake's. */
export type HandshakeFrame = Extract<Frame, { type: 1 | 2 | 3 }>;

export interface TunnelEndOwner {
  /**
   * A CHALLENGE or WELCOME frame, with its bytes as received and whether it came sealed (only a
   * sealed one is the far end's for certain). Throw a ProtocolError to refuse it.
   */
  frame(frame: HandshakeFrame, bytes: Uint8Array, sealed: boolean): void;
  /** A clear HELLO or RESPONSE frame (protocol v2's handshake messages), as bytes. Throw a ProtocolError to refuse it. */
  handshake(bytes: Uint8Array): void;
  /** A DATA frame's packets; returns the IP bytes delivered. Throw a ProtocolError to refuse it. */
  data(packets: Uint8Array[]): number;
  /**
   * A CLOSE arrived; the tunnel end then closes the leg normally. `sealed`: it is the far end's
   * for certain; a clear one may be anybody's (the relay's), and must not be believed far.
   */
  peerClosed(code: number, reason: string, sealed: boolean): void;
  /**
   * The far end sent something the protocol refuses (the codec's error, or one this owner threw):
   * for the owner's accounting. The tunnel end then ends the connection with its code.
   */
  protocolError?(error: ProtocolError): void;
  /** The leg is gone (once): after end(), the peer's close, a dead heartbeat or a transport error. */
  closed(close: TransportClose): void;
  /** A frame of a type the codec does not know (the self-test's, protocol/self-test.ts); skipped if absent. */
  unknownFrame?(type: number, frame: Uint8Array): void;
}

export interface TunnelEndOptions {
  transport: Transport;
  encoding: Encoding;
  /**
   * The hop of the phone's own PINGs on this leg: answered from the start on the laptop's leg
   * (the phone got in with the pairing secret), on the exit's only once keyed (anybody can dial it).
   */
  legHop: typeof Hop.LAPTOP_LEG | typeof Hop.EXIT_LEG;
  /**
   * Watch the leg for silence from the start (the laptop) or only once established (the exit,
   * whose handshake deadline covers the time before).
   */
  watchFromStart: boolean;
  /** Packets per DATA frame at most (1 turns batching off, for measurements). */
  maxPacketsPerFrame?: number | undefined;
  /** Told each frame's time in the send queue, ms (a metric). */
  sojourn?: ((ms: number) => void) | undefined;
  /** Told each frame dropped on the way in (forged, replayed, clear where sealed): a metric. */
  dropped?: ((reason: LegDropReason) => void) | undefined;
  /** The send queue, given the tunnel end's way to the wire (default: SendQueue with CoDel). */
  queue?: ((sink: FrameSink) => PacketQueue) | undefined;
  /** Told each thing refused the peer (tunnel/control-budget.ts): a PING not answered, a leg cut for not reading. */
  refused?: ((reason: ControlRefusal) => void) | undefined;
}

export class TunnelEnd {
  readonly encoding: Encoding;
  private readonly transport: Transport;
  private readonly queue: PacketQueue;
  /** Watches for silence: from the start, or once established (`watchFromStart`). */
  private heartbeat: Heartbeat | undefined;
  private readonly probe: PathProbe;
  private readonly legHop: Hop;
  /** Which frames are sealed on this leg, and the drops of those that break the rule. */
  private readonly seal: LegSeal;
  private readonly dropped: ((reason: LegDropReason) => void) | undefined;
  private readonly refused: ((reason: ControlRefusal) => void) | undefined;
  /** PONGs come out of a budget (tunnel/control-budget.ts). */
  private readonly replies = new ReplyBudget();
  /** Terminated for not reading (once). */
  private cutUnread = false;
  /** Answers end-to-end PINGs and probes the path: once the handshake is done. */
  private isEstablished = false;
  /**
   * The far end takes super-packets in DATA slots (negotiated: the laptop's HELLO offered them,
   * the exit's WELCOME took them); until then, and without, only ordinary packets are sent.
   */
  superPackets = false;
  /** end() was called, or the leg is gone: nothing more is read. */
  private ending = false;
  private gone = false;

  constructor(
    options: TunnelEndOptions,
    private readonly owner: TunnelEndOwner,
  ) {
    this.transport = options.transport;
    this.encoding = options.encoding;
    this.legHop = options.legHop;
    this.dropped = options.dropped;
    this.refused = options.refused;
    this.seal = new LegSeal(options.legHop === Hop.LAPTOP_LEG ? "laptop" : "exit");
    const sink: FrameSink = {
      get bufferedAmount() {
        return options.transport.bufferedAmount;
      },
      write: (frame, taken) => this.write(this.wire(frame), taken),
    };
    this.queue =
      options.queue?.(sink) ??
      new SendQueue(sink, { maxPacketsPerFrame: options.maxPacketsPerFrame, sojourn: options.sojourn });
    if (options.watchFromStart) this.watch();
    this.probe = new PathProbe({
      ping: (id, sentAt) => this.send({ type: FrameType.PING, hop: Hop.END_TO_END, id, sentAt }),
      rtt: (rttMs) => this.queue.pathRtt(rttMs),
    });
    this.transport.onMessage((message) => this.receive(message));
    this.transport.onClose((close) => this.closed(close));
  }

  /** Whether frames sent now can still reach the leg. */
  get open(): boolean {
    return !this.ending && this.transport.open;
  }

  /** Bytes waiting in the transport. */
  get bufferedAmount(): number {
    return this.transport.bufferedAmount;
  }

  /** Round trip to the far end of the last answered end-to-end PING, ms. */
  get rttMs(): number | undefined {
    return this.probe.rttMs;
  }

  /** Frames dropped on the way in (forged, replayed, clear where sealed), by reason. */
  get drops(): Readonly<Record<LegDropReason, number>> {
    return this.seal.drops;
  }

  /** The handshake's transport keys: from now on every end-to-end frame is sealed both ways. */
  installKeys(keys: { send: Uint8Array; receive: Uint8Array }): void {
    this.seal.install(keys);
  }

  /** The handshake is done: answer the far end's PINGs, probe the path, watch for silence. */
  established(): void {
    if (this.isEstablished || this.gone) return;
    this.isEstablished = true;
    this.watch();
    this.probe.start();
  }

  /** A control frame (handshake, PING, CLOSE): never dropped. */
  send(frame: Frame): void {
    if (this.open) this.queue.sendControl(encodeFrame(frame));
  }

  /** A frame already in its bytes (the self-test's; v2's HELLO and RESPONSE), on the control path. */
  sendFrame(frame: Uint8Array): void {
    if (this.open) this.queue.sendControl(frame);
  }

  /**
   * IP packets to the far end, batched; dropped and counted when the queue is too long. With
   * `segmentSizes` (a TUN read in super-packet mode), super-packets go as they are to a far end
   * that takes them (`superPackets`), else split here into ordinary packets (tun/gso-peer.ts).
   */
  sendPackets(packets: readonly Uint8Array[], segmentSizes?: ArrayLike<number>): SendResult {
    const peer = forPeer(packets, segmentSizes, this.superPackets);
    const sent = this.queue.sendPackets(peer.packets, peer.segmentSizes);
    if (sent.packets) this.probe.sent();
    if (peer.refused === 0) return sent;
    return { ...sent, dropped: sent.dropped + peer.refused, reason: sent.reason ?? "bad_super_packet" };
  }

  /**
   * The one way a tunnel end ends a connection for a reason: a CLOSE frame with the code and a
   * sentence (`reason`, or the code's own), then the transport closed with the same code. Again,
   * or after the leg is gone, is a no-op.
   */
  end(code: ErrorCode, reason?: string): void {
    if (this.ending) return;
    const { close, message } = ErrorCodes[code];
    this.send({ type: FrameType.CLOSE, code: close, reason: fitReason(reason ?? message) });
    this.ending = true;
    this.stopTimers();
    this.transport.close(close, code);
  }

  /**
   * A newer leg carries on: this one is closed with REPLACED and no CLOSE frame. A CLOSE is end to
   * end (the far end would take it for the session's end), and the session lives on through the
   * newer leg; only this leg goes.
   */
  replaced(): void {
    if (this.ending) return;
    this.ending = true;
    this.stopTimers();
    this.transport.close(ErrorCodes.REPLACED.close, "REPLACED");
  }

  /**
   * Ends a connection before any tunnel end would speak on it (refused at admission), the same
   * one way: CLOSE frame with the code, then the close code.
   */
  static refuse(transport: Transport, encoding: Encoding, code: ErrorCode): void {
    const ignore = () => undefined;
    const owner = { frame: ignore, handshake: ignore, data: () => 0, peerClosed: ignore, closed: ignore };
    new TunnelEnd({ transport, encoding, legHop: Hop.EXIT_LEG, watchFromStart: false }, owner).end(code);
  }

  /** Drops the leg at once (no CLOSE frame). */
  terminate(): void {
    this.ending = true;
    this.transport.terminate();
  }

  /** Frame -> message on the wire: sealed once keyed (but the phone's leg pings). */
  private wire(frame: Uint8Array): Message {
    return toMessage(this.seal.outbound(frame), this.encoding);
  }

  /**
   * Message on the wire -> the frame in it and whether it was sealed, or undefined when it is
   * dropped (counted). Before the keys, a message that is not even base64 throws ProtocolError (the
   * leg is broken or hostile); after them it is one more thing the relay made up: dropped.
   */
  private unwire(message: Message): { frame: Uint8Array; sealed: boolean } | undefined {
    let bytes: Uint8Array;
    try {
      bytes = fromMessage(message);
    } catch (error) {
      if (!this.seal.keyed || !(error instanceof ProtocolError)) throw error;
      this.seal.drops.malformed++;
      this.dropped?.("malformed");
      return undefined;
    }
    const inbound = this.seal.inbound(bytes);
    if (!inbound.drop) return inbound;
    this.dropped?.(inbound.drop);
    return undefined;
  }

  private receive(message: Message): void {
    if (this.ending) return;
    this.heartbeat?.alive();
    let sealed = false;
    try {
      const unwired = this.unwire(message);
      if (!unwired) return; // dropped and counted
      sealed = unwired.sealed;
      const bytes = unwired.frame;
      const v2Handshake = bytes[0] === FrameType.HELLO || bytes[0] === RESPONSE_TYPE;
      if (!sealed && v2Handshake && bytes.length >= HEADER_BYTES) {
        this.owner.handshake(bytes);
        return;
      }
      const frame = decodeFrame(bytes);
      if (!frame) {
        this.owner.unknownFrame?.(bytes[0]!, bytes); // unknown types are skipped, or the owner's
        return;
      }
      switch (frame.type) {
        case FrameType.DATA:
          this.queue.received(this.owner.data(frame.packets));
          return;
        case FrameType.PING:
          if (frame.hop === this.legHop || (frame.hop === Hop.END_TO_END && this.isEstablished))
            this.pong(frame);
          return;
        case FrameType.PONG:
          if (frame.hop === Hop.END_TO_END) this.probe.pong(frame.sentAt);
          return;
        case FrameType.CLOSE:
          this.owner.peerClosed(frame.code, frame.reason, sealed);
          this.ending = true;
          this.transport.close(CLOSE_NORMAL, "");
          return;
        default:
          this.owner.frame(frame, bytes, sealed);
      }
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      if (this.seal.keyed && !sealed) {
        // Once keyed, a clear frame that does not hold up is the relay's: dropped, never the end.
        this.seal.drops.malformed++;
        this.dropped?.("malformed");
        return;
      }
      this.owner.protocolError?.(error);
      this.end(error.code, error.message);
    }
  }

  /**
   * Answers a PING, within the reply budget; on the exit's leg only once keyed: before that a
   * stranger's socket gets nothing but the handshake answered.
   */
  private pong(ping: Extract<Frame, { type: typeof FrameType.PING }>): void {
    if ((this.legHop === Hop.EXIT_LEG && !this.seal.keyed) || !this.replies.take()) {
      this.refused?.("control_reply");
      return;
    }
    this.send({ ...ping, type: FrameType.PONG });
  }

  /** Every message's one way onto the leg: a peer that lets too much wait unread is cut, not buffered for. */
  private write(message: Message, taken: () => void): void {
    this.transport.send(message, () => taken());
    if (this.transport.bufferedAmount <= MAX_UNREAD_BYTES || this.cutUnread) return;
    this.cutUnread = true;
    this.refused?.("unread");
    this.terminate();
  }

  /** The phone pings each leg every second: silence means the leg is dead, close or not. */
  private watch(): void {
    this.heartbeat ??= new Heartbeat({ dead: () => this.transport.terminate(), intervalMs: 0 });
  }

  private stopTimers(): void {
    this.heartbeat?.stop();
    this.probe.stop();
  }

  private closed(close: TransportClose): void {
    if (this.gone) return;
    this.gone = true;
    this.ending = true;
    this.stopTimers();
    this.owner.closed(close);
  }
}
