// The laptop's end of the tunnel. It speaks the protocol with the exit through whichever relay
// (phone) is connected:
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
import type { RawData, WebSocket } from "ws";
import { helloMac } from "../protocol/auth.js";
import type { ClientKey } from "../protocol/client-key.js";
import { decodeFrame, encodeFrame } from "../protocol/codec.js";
import { type Encoding, fromMessage } from "../protocol/encoding.js";
import { codeForClose, type ErrorCode, ProtocolError } from "../protocol/errors.js";
import { type ChallengeFrame, FrameType, Hop, type WelcomeFrame } from "../protocol/frames.js";
import { Heartbeat, PATH_PING_MS, pathPingDue } from "../protocol/heartbeat.js";
import { isIpv4 } from "../protocol/ipv4.js";
import { PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN } from "../protocol/limits.js";
import { type SendDropReason, SendQueue } from "../protocol/send-queue.js";
import type { TunDevice } from "../tun/device.js";

/** Closes that retrying cannot fix. */
const FATAL_CODES: ReadonlySet<ErrorCode> = new Set(["AUTH_FAILED", "UNSUPPORTED_VERSION"]);

export type TunnelState = "waiting" | "handshaking" | "established";

export type DropReason = "no_relay" | "not_ipv4" | "tun_write_failed" | SendDropReason;

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

interface Relay {
  socket: WebSocket;
  encoding: Encoding;
  remote: string;
  heartbeat: Heartbeat;
  /** Frames to the phone: DATA batched, the queue held short by CoDel. */
  queue: SendQueue;
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
    },
    relays: 0,
  };
  /** laptop <-> exit round trip of the last answered end-to-end PING, ms. */
  rttMs: number | undefined;
  private lastSentAt = 0;
  private lastPingAt = 0;
  private relay: Relay | undefined;

  constructor(
    private readonly tun: TunDevice,
    private readonly key: ClientKey,
    private readonly events: TunnelEvents,
    private readonly options: { maxPacketsPerFrame?: number | undefined } = {},
  ) {
    tun.onPackets((packets) => this.fromTun(packets));
  }

  /** A phone connected: it becomes the relay, replacing any older one. */
  attach(socket: WebSocket, encoding: Encoding, remote: string): void {
    const previous = this.relay;
    const relay: Relay = {
      socket,
      encoding,
      remote,
      queue: new SendQueue(socket, encoding, { maxPacketsPerFrame: this.options.maxPacketsPerFrame }),
      // The phone pings this leg every second: silence means the relay is gone, close or not.
      heartbeat: new Heartbeat({
        ping: (id, sentAt) => {
          if (this.state !== "established" || relay !== this.relay) return;
          if (!pathPingDue(sentAt, this.lastSentAt, this.lastPingAt)) return;
          this.lastPingAt = sentAt;
          this.send(relay, encodeFrame({ type: FrameType.PING, hop: Hop.END_TO_END, id, sentAt }));
        },
        dead: () => socket.terminate(),
        intervalMs: PATH_PING_MS,
      }),
    };
    this.relay = relay;
    this.counters.relays++;
    previous?.socket.close(4002, "REPLACED");
    this.setState("handshaking", `relay ${remote}`);
    socket.on("message", (data, isBinary) => this.fromRelay(relay, data, isBinary));
    socket.on("close", (code, reason) => this.detached(relay, code, reason.toString()));
    socket.on("error", () => undefined); // a close follows
  }

  private setState(state: TunnelState, detail?: string): void {
    if (state === this.state && state !== "waiting") return;
    this.state = state;
    this.events.state(state, detail);
  }

  private send(relay: Relay, frame: Uint8Array): void {
    relay.queue.sendControl(frame);
  }

  private fromTun(packets: Uint8Array[]): void {
    const relay = this.relay;
    if (!relay || this.state !== "established" || relay.socket.readyState !== relay.socket.OPEN) {
      this.counters.drops.no_relay += packets.length;
      return;
    }
    let ipv4 = packets;
    if (!packets.every(isIpv4)) {
      ipv4 = packets.filter(isIpv4);
      this.counters.drops.not_ipv4 += packets.length - ipv4.length;
    }
    const sent = relay.queue.sendPackets(ipv4);
    if (sent.packets) this.lastSentAt = Date.now();
    if (sent.reason) this.counters.drops[sent.reason] += sent.dropped;
    this.counters.packetsUp += sent.packets;
    this.counters.bytesUp += sent.bytes;
  }

  private fromRelay(relay: Relay, data: RawData, isBinary: boolean): void {
    if (relay !== this.relay) return;
    relay.heartbeat.alive();
    try {
      const bytes = fromMessage(isBinary ? (data as Buffer) : data.toString());
      const frame = decodeFrame(bytes);
      if (!frame) return; // unknown types are skipped
      switch (frame.type) {
        case FrameType.CHALLENGE:
          this.setState("handshaking", `relay ${relay.remote}`);
          void this.challenge(relay, frame);
          return;
        case FrameType.WELCOME:
          void this.welcomed(relay, frame);
          return;
        case FrameType.DATA: {
          if (this.state !== "established")
            throw new ProtocolError("UNEXPECTED_FRAME", "DATA before WELCOME");
          let bytes = 0;
          for (const packet of frame.packets) {
            if (this.tun.write(packet)) {
              this.counters.packetsDown++;
              bytes += packet.length;
            } else {
              this.counters.drops.tun_write_failed++;
            }
          }
          this.counters.bytesDown += bytes;
          relay.queue.received(bytes);
          return;
        }
        case FrameType.PING:
          if (frame.hop === Hop.LAPTOP_LEG || frame.hop === Hop.END_TO_END) {
            this.send(relay, encodeFrame({ ...frame, type: FrameType.PONG }));
          }
          return;
        case FrameType.PONG:
          if (frame.hop === Hop.END_TO_END) {
            relay.heartbeat.pong(frame.sentAt);
            this.rttMs = relay.heartbeat.rttMs;
            if (this.rttMs !== undefined) relay.queue.pathRtt(this.rttMs);
          }
          return;
        case FrameType.CLOSE:
          this.closedByExit(relay, frame.code, frame.reason);
          return;
        default:
          throw new ProtocolError("UNEXPECTED_FRAME", `type ${frame.type} from the exit`);
      }
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      relay.socket.close(error.closeCode, error.code);
    }
  }

  private async challenge(relay: Relay, challenge: ChallengeFrame): Promise<void> {
    if (challenge.versionMax < PROTOCOL_VERSION_MIN || challenge.versionMin > PROTOCOL_VERSION_MAX) {
      this.fail(
        "UNSUPPORTED_VERSION",
        `the exit speaks protocol v${challenge.versionMin}-v${challenge.versionMax}; this tether speaks v${PROTOCOL_VERSION_MIN}-v${PROTOCOL_VERSION_MAX}. Update the older side.`,
      );
      return;
    }
    const mac = await helloMac(this.key.secret, challenge.nonce, this.key.clientId);
    if (relay !== this.relay || relay.socket.readyState !== relay.socket.OPEN) return;
    this.send(
      relay,
      encodeFrame({
        type: FrameType.HELLO,
        versionMin: PROTOCOL_VERSION_MIN,
        versionMax: PROTOCOL_VERSION_MAX,
        capabilities: 0,
        clientId: this.key.clientId,
        mac,
        resumeToken: this.welcome?.resumeToken,
      }),
    );
  }

  private async welcomed(relay: Relay, welcome: WelcomeFrame): Promise<void> {
    if (this.state !== "handshaking") return;
    const previous = this.welcome;
    this.welcome = welcome;
    await this.events.welcome(welcome, previous);
    if (relay !== this.relay) return;
    const how = welcome.resumed
      ? "resumed"
      : previous
        ? "previous session expired: new session"
        : "new session";
    this.setState("established", `address ${welcome.address}, ${how}`);
  }

  private closedByExit(relay: Relay, closeCode: number, reason: string): void {
    const code = codeForClose(closeCode);
    if (code && FATAL_CODES.has(code)) {
      this.fail(code, code === "AUTH_FAILED" ? `the exit refused this laptop's key (${reason})` : reason);
    }
    relay.socket.close(1000);
  }

  private fail(code: ErrorCode, message: string): void {
    this.events.fatal(new TunnelError(code, message));
  }

  private detached(relay: Relay, code: number, reason: string): void {
    relay.heartbeat.stop();
    if (relay !== this.relay) return;
    this.relay = undefined;
    const known = codeForClose(code);
    if (known && FATAL_CODES.has(known)) this.fail(known, reason || known);
    this.setState(
      "waiting",
      `relay lost: ${known ?? (code === 1006 ? "connection dropped" : `code ${code}`)}`,
    );
  }

  close(): void {
    this.relay?.heartbeat.stop();
    this.relay?.socket.close(4001, "SHUTTING_DOWN");
    this.relay = undefined;
  }
}
