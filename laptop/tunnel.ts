// The laptop's tunnel end, over whichever relay (phone) is connected: one TunnelEnd
// (tunnel/end.ts) per laptop leg, and this state machine and policy around it:
//
//   relay connects ──> CHALLENGE ──> HELLO ──> RESPONSE ──> sealed WELCOME ──> established
//        waiting           handshaking (Noise, protocol v2)                          │ DATA, PINGs
//           ^                                                                        │
//           └──────── relay closes or goes silent (heartbeat) ──────────────────────┘
//
// The TUN, routes and DNS stay while the relay is away; packets meanwhile are dropped and counted
// (nothing queues). The next relay's CHALLENGE is answered with the resume token, and the exit
// gives the same session back (same address, flows intact), or, when it has expired, a new one.
//
// The relay is not trusted (protocol v2, docs/PROTOCOL.md): after the handshake every end-to-end
// frame is sealed, and what the relay makes up is dropped and counted. A CLOSE that no retry can
// fix (wrong key, no common version) is fatal only when it is the exit's for certain: sealed, or
// clear while this laptop's key has never yet opened a session (the exit cannot seal a refusal to
// a wrong key; a relay that forges one then could as well refuse to relay). A close code on the
// leg is never fatal. A working relay is not replaced by a newer one (RELAY_BUSY), and from the
// tunnel only packets addressed to the laptop's tunnel address reach the TUN.
import type { ClientKey } from "../protocol/client-key.js";
import type { Encoding } from "../protocol/encoding.js";
import { codeForClose, type ErrorCode, ProtocolError } from "../protocol/errors.js";
import { type FlowDropReason, FlowQueue } from "../protocol/flow-queue.js";
import { Capability, type ChallengeFrame, FrameType, Hop, type WelcomeFrame } from "../protocol/frames.js";
import { ipv4Destination, isIpv4, tryParseIpv4, tryParseIpv6 } from "../protocol/ip.js";
import { ipv6DestinationIs, isIpv6 } from "../protocol/ipv6-header.js";
import { SelfTestType } from "../protocol/self-test.js";
import type { SendDropReason } from "../protocol/send-queue.js";
import { unwrapSlot } from "../protocol/super-packet.js";
import { CLOSE_ABNORMAL, type Transport } from "../protocol/transport.js";
import type { TunDevice } from "../tun/device.js";
import { ipPacketCount } from "../tun/gso-peer.js";
import type { ControlRefusal } from "../tunnel/control-budget.js";
import { type HandshakeFrame, TunnelEnd } from "../tunnel/end.js";
import { HandshakeRefusal, helloFor, LAPTOP_CAPABILITIES, versionInCommon } from "../tunnel/handshake.js";
import type { TransportKeys } from "../tunnel/noise.js";
import { type InitiatorHandshake, RESPONSE_TYPE, type ResumeTicket } from "../tunnel/noise-messages.js";
import { LEG_DROP_REASONS, type LegDropReason } from "../tunnel/seal-leg.js";
import { SelfTestSender } from "../tunnel/self-test.js";
import { type LocalDrop, localDrop } from "./link-local-filter.js";

/** Closes that retrying cannot fix. */
const FATAL_CODES: ReadonlySet<ErrorCode> = new Set(["AUTH_FAILED", "UNSUPPORTED_VERSION"]);

export type TunnelState = "waiting" | "handshaking" | "established";

export type DropReason =
  | "no_relay"
  /** From the TUN: not sent (laptop/link-local-filter.ts). */
  | LocalDrop
  | "tun_write_failed"
  /** From the tunnel, addressed to anything but this laptop's tunnel address. */
  | "wrong_destination"
  | SendDropReason
  | FlowDropReason;

export interface TunnelCounters {
  packetsUp: number;
  bytesUp: number;
  packetsDown: number;
  bytesDown: number;
  drops: Record<DropReason, number>;
  /** Segments the send queue marked Congestion Experienced instead of dropping them (ECN-capable flows). */
  ceMarked: number;
  relays: number;
  /** Relays refused because a working one was connected (RELAY_BUSY). */
  relaysBusy: number;
  /** Handshakes that failed at the laptop (a RESPONSE that did not authenticate). */
  handshakesFailed: number;
  /** CLOSEs not believed: clear ones once the key has worked (only the relay could have sent them). */
  closesIgnored: number;
  /** Frames the relays' legs dropped unopened (forged, replayed, clear where sealed), by reason, all relays. */
  legDrops: Record<LegDropReason, number>;
  /** What the relays were refused (tunnel/control-budget.ts): PINGs past the reply budget, legs cut for not reading. */
  refusals: Record<ControlRefusal, number>;
}

export class TunnelError extends Error {
  override name = "TunnelError";
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface TunnelEvents {
  /** The exit welcomed us (new, resumed or replacing an expired session); apply its configuration before traffic flows (awaited). */
  welcome(welcome: WelcomeFrame, previous: WelcomeFrame | undefined): Promise<void>;
  state(state: TunnelState, detail?: string): void;
  fatal(error: TunnelError): void;
}

/** The relay connected now: its leg's tunnel end, and where it came from. */
interface Relay {
  end: TunnelEnd;
  remote: string;
  /**
   * The Noise handshake under way, from a CHALLENGE to its RESPONSE. The phone may redial its
   * exit leg while keeping this one: each exit connection brings a CHALLENGE and a handshake of
   * its own, and the keys in use stay until the new ones are in.
   */
  handshake?: InitiatorHandshake;
  /** The keys in use on this leg, from the last handshake's RESPONSE. */
  keys?: TransportKeys;
  /** The last handshake's keys are in and its WELCOME has not come yet. */
  awaitingWelcome?: boolean;
}

export class LaptopTunnel {
  state: TunnelState = "waiting";
  welcome: WelcomeFrame | undefined;
  readonly counters: TunnelCounters = {
    packetsUp: 0,
    bytesUp: 0,
    packetsDown: 0,
    bytesDown: 0,
    drops: {
      no_relay: 0,
      not_ip: 0,
      bad_super_packet: 0,
      ipv6_link_local: 0,
      ipv6_multicast: 0,
      tun_write_failed: 0,
      wrong_destination: 0,
      queue_delay: 0,
      send_buffer_full: 0,
      frame_too_large: 0,
      fattest_flow: 0,
    },
    relays: 0,
    relaysBusy: 0,
    handshakesFailed: 0,
    closesIgnored: 0,
    legDrops: Object.fromEntries(LEG_DROP_REASONS.map((reason) => [reason, 0])) as Record<
      LegDropReason,
      number
    >,
    refusals: { control_reply: 0, unread: 0 },
    ceMarked: 0,
  };
  private relay: Relay | undefined;
  /** The phone's self-test: ECHOs through the exit when the relay asks (tunnel/self-test.ts). */
  private readonly selfTest = new SelfTestSender();
  /** What resumes the session: WELCOME's token and the resume secret of the session's handshake. */
  private resume: ResumeTicket | undefined;
  /** The tunnel address as a number, for the destination check of packets from the exit. */
  private addressInt: number | undefined;
  /** The tunnel's IPv6 address (16 bytes) when the exit gave one, for the same check. */
  private address6: Uint8Array | undefined;
  /** This key has opened a session: from now on only a sealed CLOSE can be fatal. */
  private keyProven = false;
  /** The round trip measured through the last relay, kept while none is connected. */
  private lastRttMs: number | undefined;

  constructor(
    private readonly tun: TunDevice,
    private readonly key: ClientKey,
    private readonly events: TunnelEvents,
    private readonly options: {
      maxPacketsPerFrame?: number | undefined;
      /** Offer super-packets to the exit (default true); off: ordinary packets only, both ways. */
      superPackets?: boolean | undefined;
    } = {},
  ) {
    tun.onPackets((packets, segmentSizes) => this.fromTun(packets, segmentSizes));
  }

  /** Frames the current relay's leg dropped unopened (forged, replayed, clear where sealed), by reason. */
  get legDrops(): Readonly<Record<LegDropReason, number>> | undefined {
    return this.relay?.end.drops;
  }

  /** laptop <-> exit round trip of the last answered end-to-end PING, ms. */
  get rttMs(): number | undefined {
    return this.relay?.end.rttMs ?? this.lastRttMs;
  }

  /**
   * A phone connected: it becomes the relay, replacing an older one that is not working (still
   * handshaking, or gone). While one is working, the newcomer is refused with RELAY_BUSY: a second
   * page holding the pairing secret does not take the tunnel over.
   */
  attach(transport: Transport, encoding: Encoding, remote: string): void {
    const previous = this.relay;
    if (previous && this.state === "established" && previous.end.open) {
      this.counters.relaysBusy++;
      TunnelEnd.refuse(transport, encoding, "RELAY_BUSY");
      return;
    }
    const end = new TunnelEnd(
      {
        transport,
        encoding,
        legHop: Hop.LAPTOP_LEG,
        // The phone pings this leg every second: silence means the relay is gone, close or not.
        watchFromStart: true,
        maxPacketsPerFrame: this.options.maxPacketsPerFrame,
        dropped: (reason) => {
          this.counters.legDrops[reason]++;
        },
        refused: (reason) => {
          this.counters.refusals[reason]++;
        },
        // Per-flow queues: a ping or a DNS query never waits behind (or is dropped for) a transfer.
        queue: (sink) =>
          new FlowQueue(sink, {
            maxPacketsPerFrame: this.options.maxPacketsPerFrame,
            dropped: (reason, count) => {
              this.counters.drops[reason] += count;
            },
            marked: (segments) => {
              this.counters.ceMarked += segments;
            },
          }),
      },
      {
        frame: (frame, bytes, sealed) => this.handshake(relay, frame, bytes, sealed),
        handshake: (bytes) => this.response(relay, bytes),
        data: (packets) => this.toTun(relay, packets),
        peerClosed: (code, reason, sealed) => this.closedByExit(code, reason, sealed),
        closed: ({ code }) => this.detached(relay, code),
        unknownFrame: (type, frame) => {
          if (type === SelfTestType.SELF_TEST)
            this.selfTest.request(relay.end, frame, relay === this.relay && this.state === "established");
          else if (type === SelfTestType.ECHO_REPLY) this.selfTest.reply(frame);
        },
      },
    );
    const relay: Relay = { end, remote };
    this.relay = relay;
    this.counters.relays++;
    previous?.end.replaced();
    this.setState("handshaking", `relay ${remote}`);
  }

  private setState(state: TunnelState, detail?: string): void {
    if (state === this.state && state !== "waiting") return;
    this.state = state;
    this.events.state(state, detail);
  }

  /**
   * Packets from the TUN (super-packets among them, with their segment sizes, in super-packet
   * mode): to the exit, as super-packets if it takes them, else split (TunnelEnd.sendPackets).
   */
  private fromTun(packets: Uint8Array[], segmentSizes: Uint16Array | undefined): void {
    const relay = this.relay;
    if (!relay || this.state !== "established" || !relay.end.open) {
      this.counters.drops.no_relay += packets.length;
      return;
    }
    // Only what means something beyond this laptop: its own link's IPv6 is counted, never sent.
    let ip = packets;
    let sizes: ArrayLike<number> | undefined = segmentSizes;
    if (!packets.every((packet) => localDrop(packet) === undefined)) {
      ip = [];
      const kept: number[] = [];
      for (let i = 0; i < packets.length; i++) {
        const why = localDrop(packets[i]!);
        if (why) {
          this.counters.drops[why]++;
          continue;
        }
        ip.push(packets[i]!);
        kept.push(segmentSizes?.[i] ?? 0);
      }
      sizes = segmentSizes ? kept : undefined;
    }
    const sent = relay.end.sendPackets(ip, sizes);
    if (sent.reason) this.counters.drops[sent.reason] += sent.dropped;
    this.counters.packetsUp += sent.packets;
    this.counters.bytesUp += sent.bytes;
  }

  /**
   * DATA from the exit: to the TUN (a flow's segments coalesced where the kernel takes it), only
   * what is addressed to this laptop. Returns the IP bytes written.
   */
  private toTun(relay: Relay, slots: Uint8Array[]): number {
    if (this.state !== "established") throw new ProtocolError("UNEXPECTED_FRAME", "DATA before WELCOME");
    const mine: Uint8Array[] = [];
    const sizes: number[] = [];
    let superPackets = 0;
    for (const slot of slots) {
      // A super-packet slot only from an exit that said it sends them, and only a well-formed one.
      const unwrapped = unwrapSlot(slot);
      if (!unwrapped || (unwrapped.segmentSize > 0 && !relay.end.superPackets)) {
        this.counters.drops.bad_super_packet++;
        continue;
      }
      if (!this.addressedHere(unwrapped.packet)) continue;
      mine.push(unwrapped.packet);
      sizes.push(unwrapped.segmentSize);
      if (unwrapped.segmentSize > 0) superPackets++;
    }
    const segmentSizes = superPackets > 0 ? sizes : undefined;
    const written = this.tun.writePackets(mine, segmentSizes);
    this.counters.packetsDown += written.packets;
    const expected = ipPacketCount(mine, segmentSizes);
    if (written.packets < expected) this.counters.drops.tun_write_failed += expected - written.packets;
    this.counters.bytesDown += written.bytes;
    return written.bytes;
  }

  /**
   * An IPv4 or IPv6 packet (a super-packet's header too) for one of this laptop's tunnel
   * addresses; anything else is counted.
   */
  private addressedHere(ip: Uint8Array): boolean {
    const mine = isIpv4(ip)
      ? ipv4Destination(ip) === this.addressInt
      : isIpv6(ip)
        ? this.address6 !== undefined && ipv6DestinationIs(ip, this.address6)
        : undefined;
    if (mine === undefined) this.counters.drops.not_ip++;
    else if (!mine) this.counters.drops.wrong_destination++;
    return mine === true;
  }

  private handshake(relay: Relay, frame: HandshakeFrame, bytes: Uint8Array, sealed: boolean): void {
    if (frame.type === FrameType.CHALLENGE && !sealed) {
      this.challenge(relay, frame, bytes);
    } else if (frame.type === FrameType.WELCOME && sealed) {
      void this.welcomed(relay, frame);
    } else {
      throw new ProtocolError(
        "UNEXPECTED_FRAME",
        `${sealed ? "sealed" : "clear"} frame of type ${frame.type} from the exit`,
      );
    }
  }

  private challenge(relay: Relay, challenge: ChallengeFrame, bytes: Uint8Array): void {
    // A CHALLENGE is clear and anybody's: a new one only starts a handshake; the session keeps
    // flowing under the keys in use until that handshake's keys are in.
    if (this.state !== "established") this.setState("handshaking", `relay ${relay.remote}`);
    try {
      const capabilities =
        this.options.superPackets === false
          ? LAPTOP_CAPABILITIES & ~Capability.SUPER_PACKETS
          : LAPTOP_CAPABILITIES;
      relay.handshake = helloFor(challenge, bytes, this.key, this.resume, capabilities);
    } catch (error) {
      if (!(error instanceof HandshakeRefusal)) throw error;
      if (relay.keys) {
        // On a leg whose keys work, a CHALLENGE nobody can answer is the relay's: counted, ignored.
        this.counters.handshakesFailed++;
        return;
      }
      // A CHALLENGE is clear: believed as far as a clear CLOSE is (see closedByExit).
      this.refusedBy(error.code, error.message, false);
      relay.end.end(error.code, error.message);
      return;
    }
    relay.end.sendFrame(relay.handshake.hello);
  }

  /**
   * The exit's RESPONSE: the handshake's keys; from here on every end-to-end frame is sealed with
   * them. One that does not authenticate (a relay's forgery or replay, or an exit without this
   * key) is counted and ignored: the handshake waits for the genuine one, or its deadline.
   */
  private response(relay: Relay, bytes: Uint8Array): void {
    if (bytes[0] !== RESPONSE_TYPE) {
      throw new ProtocolError("UNEXPECTED_FRAME", `handshake frame of type ${bytes[0]} from the exit`);
    }
    const result = relay.handshake?.readResponse(bytes);
    if (!result?.ok || versionInCommon(result.version, result.version) === undefined) {
      this.counters.handshakesFailed++;
      return;
    }
    relay.handshake = undefined;
    relay.keys = result.keys;
    relay.awaitingWelcome = true;
    relay.end.installKeys(result.keys);
  }

  private async welcomed(relay: Relay, welcome: WelcomeFrame): Promise<void> {
    if (!relay.awaitingWelcome || !relay.keys) return;
    relay.awaitingWelcome = false;
    const previous = this.welcome;
    this.welcome = welcome;
    this.addressInt = tryParseIpv4(welcome.address);
    this.address6 = welcome.ipv6 ? tryParseIpv6(welcome.ipv6.address) : undefined;
    this.keyProven = true;
    // A new session's resume secret is this handshake's; a resumed one keeps its own.
    const secret = welcome.resumed && this.resume ? this.resume.secret : relay.keys.resumeSecret;
    this.resume = { token: welcome.resumeToken, secret };
    // Super-packets both ways only when this laptop offered them and the exit took them.
    relay.end.superPackets = welcome.superPackets === true && this.options.superPackets !== false;
    relay.end.established();
    try {
      await this.events.welcome(welcome, previous);
    } catch (error) {
      // The exit's configuration was refused here (an address `ip` will not take): the last good
      // one stays (routes.ts rolls back), this leg ends, and the phone's next dial tries again.
      this.welcome = previous;
      const reason = `the exit's configuration was refused: ${(error as Error).message}`;
      this.events.state(this.state, reason);
      relay.end.end("BAD_FIELD", reason);
      return;
    }
    if (relay !== this.relay) return;
    const how = welcome.resumed
      ? "resumed"
      : previous
        ? "previous session expired: new session"
        : "new session";
    this.setState("established", `address ${welcome.address}, ${how}`);
  }

  private closedByExit(closeCode: number, reason: string, sealed: boolean): void {
    const code = codeForClose(closeCode);
    if (code) this.refusedBy(code, reason, sealed);
  }

  /**
   * The exit (or, unsealed, maybe only the relay) refused: fatal when no retry can fix it and it
   * is to be believed; otherwise counted, and the next relay tries again.
   */
  private refusedBy(code: ErrorCode, reason: string, sealed: boolean): void {
    if (!FATAL_CODES.has(code)) return;
    if (sealed || !this.keyProven) {
      this.fail(code, code === "AUTH_FAILED" ? `the exit refused this laptop's key (${reason})` : reason);
    } else {
      this.counters.closesIgnored++;
    }
  }

  private fail(code: ErrorCode, message: string): void {
    this.events.fatal(new TunnelError(code, message));
  }

  private detached(relay: Relay, code: number): void {
    if (relay !== this.relay) return;
    this.selfTest.stop();
    this.lastRttMs = relay.end.rttMs ?? this.lastRttMs;
    this.relay = undefined;
    // A close code is the relay's to choose: never fatal (the exit's refusals come as CLOSE frames).
    const known = codeForClose(code);
    if (known === "PAUSED") {
      this.setState("waiting", "the phone paused relaying; resume on the phone");
      return;
    }
    this.setState(
      "waiting",
      `relay lost: ${known ?? (code === CLOSE_ABNORMAL ? "connection dropped" : `code ${code}`)}`,
    );
  }

  close(): void {
    this.relay?.end.end("SHUTTING_DOWN");
    this.relay = undefined;
  }
}
