// The laptop's tunnel end, over whichever relay (phone) is connected: one TunnelEnd
// (tunnel/end.ts) per laptop leg, and this state machine and policy around it:
//
//   relay connects ──> CHALLENGE ──> HELLO(mac, resume token) ──> WELCOME ──> established
//        waiting                     handshaking                                  │ DATA, PINGs
//           ^                                                                     │
//           └──────── relay closes or goes silent (heartbeat) ───────────────────┘
//
// The TUN, routes and DNS stay while the relay is away; packets meanwhile are dropped and counted
// (nothing queues). The next relay's CHALLENGE is answered with the resume token, and the exit
// gives the same session back (same address, flows intact), or, when it has expired, a new one.
//
// A CLOSE from the exit that no retry can fix (wrong key, no common version) is fatal: the
// tunnel reports it and the CLI stops with that message.
import type { ClientKey } from "../protocol/client-key.js";
import type { Encoding } from "../protocol/encoding.js";
import { codeForClose, type ErrorCode, ProtocolError } from "../protocol/errors.js";
import { type FlowDropReason, FlowQueue } from "../protocol/flow-queue.js";
import {
  type ChallengeFrame,
  FrameType,
  type HelloFrame,
  Hop,
  type WelcomeFrame,
} from "../protocol/frames.js";
import { isIpv4 } from "../protocol/ip.js";
import { SelfTestType } from "../protocol/self-test.js";
import type { SendDropReason } from "../protocol/send-queue.js";
import { CLOSE_ABNORMAL, type Transport } from "../protocol/transport.js";
import type { TunDevice } from "../tun/device.js";
import { type HandshakeFrame, TunnelEnd } from "../tunnel/end.js";
import { HandshakeRefusal, helloFor } from "../tunnel/handshake.js";
import { SelfTestSender } from "../tunnel/self-test.js";

/** Closes that retrying cannot fix. */
const FATAL_CODES: ReadonlySet<ErrorCode> = new Set(["AUTH_FAILED", "UNSUPPORTED_VERSION"]);

export type TunnelState = "waiting" | "handshaking" | "established";

export type DropReason = "no_relay" | "not_ipv4" | "tun_write_failed" | SendDropReason | FlowDropReason;

export interface TunnelCounters {
  packetsUp: number;
  bytesUp: number;
  packetsDown: number;
  bytesDown: number;
  drops: Record<DropReason, number>;
  relays: number;
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
      not_ipv4: 0,
      tun_write_failed: 0,
      queue_delay: 0,
      send_buffer_full: 0,
      frame_too_large: 0,
      fattest_flow: 0,
    },
    relays: 0,
  };
  private relay: Relay | undefined;
  /** The phone's self-test: ECHOs through the exit when the relay asks (tunnel/self-test.ts). */
  private readonly selfTest = new SelfTestSender();
  /** The round trip measured through the last relay, kept while none is connected. */
  private lastRttMs: number | undefined;

  constructor(
    private readonly tun: TunDevice,
    private readonly key: ClientKey,
    private readonly events: TunnelEvents,
    private readonly options: { maxPacketsPerFrame?: number | undefined } = {},
  ) {
    tun.onPackets((packets) => this.fromTun(packets));
  }

  /** laptop <-> exit round trip of the last answered end-to-end PING, ms. */
  get rttMs(): number | undefined {
    return this.relay?.end.rttMs ?? this.lastRttMs;
  }

  /** A phone connected: it becomes the relay, replacing any older one. */
  attach(transport: Transport, encoding: Encoding, remote: string): void {
    const previous = this.relay;
    const end = new TunnelEnd(
      {
        transport,
        encoding,
        legHop: Hop.LAPTOP_LEG,
        // The phone pings this leg every second: silence means the relay is gone, close or not.
        watchFromStart: true,
        maxPacketsPerFrame: this.options.maxPacketsPerFrame,
        // Per-flow queues: a ping or a DNS query never waits behind (or is dropped for) a transfer.
        queue: (sink) =>
          new FlowQueue(sink, {
            maxPacketsPerFrame: this.options.maxPacketsPerFrame,
            dropped: (reason, count) => {
              this.counters.drops[reason] += count;
            },
          }),
      },
      {
        frame: (frame) => this.handshake(relay, frame),
        data: (packets) => this.toTun(packets),
        peerClosed: (code, reason) => this.closedByExit(code, reason),
        closed: ({ code, reason }) => this.detached(relay, code, reason),
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

  private fromTun(packets: Uint8Array[]): void {
    const relay = this.relay;
    if (!relay || this.state !== "established" || !relay.end.open) {
      this.counters.drops.no_relay += packets.length;
      return;
    }
    let ipv4 = packets;
    if (!packets.every(isIpv4)) {
      ipv4 = packets.filter(isIpv4);
      this.counters.drops.not_ipv4 += packets.length - ipv4.length;
    }
    const sent = relay.end.sendPackets(ipv4);
    if (sent.reason) this.counters.drops[sent.reason] += sent.dropped;
    this.counters.packetsUp += sent.packets;
    this.counters.bytesUp += sent.bytes;
  }

  /** DATA from the exit: to the TUN (a flow's segments coalesced where the kernel takes it). Returns the IP bytes written. */
  private toTun(packets: Uint8Array[]): number {
    if (this.state !== "established") throw new ProtocolError("UNEXPECTED_FRAME", "DATA before WELCOME");
    const written = this.tun.writePackets(packets);
    this.counters.packetsDown += written.packets;
    this.counters.drops.tun_write_failed += packets.length - written.packets;
    this.counters.bytesDown += written.bytes;
    return written.bytes;
  }

  private handshake(relay: Relay, frame: HandshakeFrame): void {
    switch (frame.type) {
      case FrameType.CHALLENGE:
        this.setState("handshaking", `relay ${relay.remote}`);
        void this.challenge(relay, frame);
        return;
      case FrameType.WELCOME:
        void this.welcomed(relay, frame);
        return;
      default:
        throw new ProtocolError("UNEXPECTED_FRAME", `type ${frame.type} from the exit`);
    }
  }

  private async challenge(relay: Relay, challenge: ChallengeFrame): Promise<void> {
    let hello: HelloFrame;
    try {
      hello = await helloFor(challenge, this.key, this.welcome?.resumeToken);
    } catch (error) {
      if (!(error instanceof HandshakeRefusal)) throw error;
      this.fail(error.code, error.message);
      return;
    }
    if (relay !== this.relay || !relay.end.open) return;
    relay.end.send(hello);
  }

  private async welcomed(relay: Relay, welcome: WelcomeFrame): Promise<void> {
    if (this.state !== "handshaking") return;
    const previous = this.welcome;
    this.welcome = welcome;
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

  private closedByExit(closeCode: number, reason: string): void {
    const code = codeForClose(closeCode);
    if (code && FATAL_CODES.has(code)) {
      this.fail(code, code === "AUTH_FAILED" ? `the exit refused this laptop's key (${reason})` : reason);
    }
  }

  private fail(code: ErrorCode, message: string): void {
    this.events.fatal(new TunnelError(code, message));
  }

  private detached(relay: Relay, code: number, reason: string): void {
    if (relay !== this.relay) return;
    this.selfTest.stop();
    this.lastRttMs = relay.end.rttMs ?? this.lastRttMs;
    this.relay = undefined;
    const known = codeForClose(code);
    if (known && FATAL_CODES.has(known)) this.fail(known, reason || known);
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
