// One relay leg at the exit, from the phone. The laptop authenticates end to end through it:
//
//   phone connects ──> CHALLENGE(nonce) ──> HELLO(versions, client id, mac) ──> WELCOME | CLOSE
//        awaiting-hello ───────────────────────────────────────────────> established ──> closed
//
// In `established`, DATA goes to the TUN (source address checked), PINGs are answered, and the
// session's packets from the TUN come back through Session.sendPackets.
import { randomBytes } from "node:crypto";
import type { RawData, WebSocket } from "ws";
import { verifyHelloMac } from "../protocol/auth.js";
import { decodeFrame, encodeFrame, fitReason } from "../protocol/codec.js";
import { type Encoding, fromMessage } from "../protocol/encoding.js";
import { type ErrorCode, ErrorCodes, ProtocolError } from "../protocol/errors.js";
import { type DataFrame, FrameType, type HelloFrame, Hop } from "../protocol/frames.js";
import { Heartbeat, PATH_PING_MS, pathPingDue } from "../protocol/heartbeat.js";
import { ipv4Source, ipv4ToInt, isIpv4 } from "../protocol/ipv4.js";
import {
  NONCE_BYTES,
  PROTOCOL_VERSION_MAX,
  PROTOCOL_VERSION_MIN,
  RESUME_TOKEN_BYTES,
  SESSION_ID_BYTES,
} from "../protocol/limits.js";
import { SendQueue } from "../protocol/send-queue.js";
import type { TunDevice } from "../tun/device.js";
import type { EgressGuard } from "./egress-guard.js";
import { type Admission, oldestDetached } from "./limits.js";
import type { Logger } from "./log.js";
import type { ExitMetrics, HandshakeResult } from "./metrics.js";
import type { AddressPool } from "./pool.js";
import type { SessionRateLimiter } from "./rate-limit.js";
import { type Leg, Session, type SessionTable, sendFrame } from "./session.js";

export interface ExitContext {
  /** The client's secret, read fresh each handshake so a revoked key stops working at once. */
  secretFor(clientId: string): Promise<Uint8Array | undefined>;
  pool: AddressPool;
  sessions: SessionTable;
  tun: TunDevice;
  metrics: ExitMetrics;
  log: Logger;
  mtu: number;
  dns: string[];
  keepaliveSeconds: number;
  handshakeTimeoutMs: number;
  /** This connection's handshake slot and session limits (exit/limits.ts). */
  admission?: Admission;
  /** Where laptops may not send packets (exit/egress-guard.ts). */
  egress?: EgressGuard;
  /** The per-session rate limit, when one is set. */
  rateLimit?: SessionRateLimiter;
  /** Packets per DATA frame at most (default MAX_PACKETS_PER_FRAME; 1 turns batching off). */
  maxPacketsPerFrame?: number | undefined;
}

/** Stands in for the key of a client the exit does not know, so its refusal takes as long. */
const UNKNOWN_CLIENT_SECRET = new Uint8Array(randomBytes(32));

/** The handshake result each limit's refusal is counted under. */
const LIMIT_RESULTS: Partial<Record<ErrorCode, HandshakeResult>> = {
  EXIT_BUSY: "busy",
  SESSION_LIMIT: "session_limit",
};

type State = "awaiting-hello" | "authenticating" | "established" | "closed";

export class ExitConnection {
  private state: State = "awaiting-hello";
  private readonly leg: Leg;
  private readonly nonce = new Uint8Array(randomBytes(NONCE_BYTES));
  private readonly handshakeTimer: NodeJS.Timeout;
  private session: Session | undefined;
  /** Once established: a relay silent for HEARTBEAT_TIMEOUT_MS is dead (the phone pings every second). */
  private heartbeat: Heartbeat | undefined;

  constructor(
    socket: WebSocket,
    encoding: Encoding,
    private readonly remote: string,
    private readonly context: ExitContext,
  ) {
    this.leg = {
      socket,
      encoding,
      queue: new SendQueue(socket, encoding, {
        maxPacketsPerFrame: context.maxPacketsPerFrame,
        sojourn: (ms) => context.metrics.queueDelay.observe(ms / 1000),
      }),
    };
    socket.on("message", (data, isBinary) => this.receive(data, isBinary));
    socket.on("close", () => this.closed());
    socket.on("error", (error) => {
      context.log.warn({ remote, err: error.message }, "relay socket error");
      // ws refused a message itself (past maxPayload: close 1009; bad WebSocket framing) before
      // the handshake ended: a failed handshake, counted and charged to its source like the others.
      if (this.state === "awaiting-hello" || this.state === "authenticating") {
        context.metrics.handshake("protocol_error");
        context.admission?.done(false);
      }
    });
    this.handshakeTimer = setTimeout(
      () => this.refuse("HANDSHAKE_TIMEOUT", "timeout"),
      context.handshakeTimeoutMs,
    );
    this.send(
      encodeFrame({
        type: FrameType.CHALLENGE,
        versionMin: PROTOCOL_VERSION_MIN,
        versionMax: PROTOCOL_VERSION_MAX,
        nonce: this.nonce,
      }),
    );
  }

  private send(frame: Uint8Array): void {
    if (this.leg.socket.readyState === this.leg.socket.OPEN) sendFrame(this.leg, frame);
  }

  private receive(data: RawData, isBinary: boolean): void {
    if (this.state === "closed") return;
    this.heartbeat?.alive();
    try {
      const bytes = fromMessage(isBinary ? (data as Buffer) : data.toString());
      const frame = decodeFrame(bytes);
      if (!frame) return; // unknown frame types are skipped
      switch (frame.type) {
        case FrameType.HELLO:
          if (this.state !== "awaiting-hello") throw new ProtocolError("UNEXPECTED_FRAME", "HELLO twice");
          this.state = "authenticating";
          void this.hello(frame);
          return;
        case FrameType.DATA:
          if (this.state !== "established")
            throw new ProtocolError("UNEXPECTED_FRAME", "DATA before WELCOME");
          this.data(frame);
          return;
        case FrameType.PING:
          // The phone's own ping measures its exit leg; an end-to-end one comes from the laptop.
          if (frame.hop === Hop.EXIT_LEG || (frame.hop === Hop.END_TO_END && this.state === "established")) {
            this.send(encodeFrame({ ...frame, type: FrameType.PONG }));
          }
          return;
        case FrameType.PONG:
          if (frame.hop === Hop.END_TO_END && this.heartbeat) {
            this.heartbeat.pong(frame.sentAt);
            if (this.heartbeat.rttMs !== undefined) this.leg.queue.pathRtt(this.heartbeat.rttMs);
          }
          return;
        case FrameType.CLOSE:
          this.context.log.info(
            { remote: this.remote, code: frame.code, reason: frame.reason },
            "laptop closed",
          );
          this.leg.socket.close(1000);
          return;
        default:
          throw new ProtocolError("UNEXPECTED_FRAME", `type ${frame.type} from a laptop`);
      }
    } catch (error) {
      if (error instanceof ProtocolError) this.refuse(error.code, "protocol_error", error.message);
      else throw error;
    }
  }

  private async hello(hello: HelloFrame): Promise<void> {
    const { context } = this;
    if (hello.versionMax < PROTOCOL_VERSION_MIN || hello.versionMin > PROTOCOL_VERSION_MAX) {
      return this.refuse(
        "UNSUPPORTED_VERSION",
        "unsupported_version",
        `laptop speaks v${hello.versionMin}-v${hello.versionMax}, this exit v${PROTOCOL_VERSION_MIN}-v${PROTOCOL_VERSION_MAX}`,
      );
    }
    const secret = await context.secretFor(hello.clientId);
    // An unknown client costs the same HMAC as a known one: the time of a refusal must not tell
    // which client names exist.
    const macOk = await verifyHelloMac(
      secret ?? UNKNOWN_CLIENT_SECRET,
      this.nonce,
      hello.clientId,
      hello.mac,
    );
    const valid = secret !== undefined && macOk;
    if (this.state !== "authenticating") return; // closed while we checked
    if (!valid) {
      return this.refuse(
        "AUTH_FAILED",
        "auth_failed",
        secret ? `wrong key for client ${hello.clientId}` : `unknown client ${hello.clientId}`,
      );
    }
    const resumed = hello.resumeToken
      ? context.sessions.byResumeToken(hello.resumeToken, hello.clientId)
      : undefined;
    let limit = resumed
      ? undefined
      : context.admission?.sessionRefusal(hello.clientId, context.sessions.all());
    const evict =
      limit === "SESSION_LIMIT" ? oldestDetached(hello.clientId, context.sessions.all()) : undefined;
    if (evict) {
      // At its per-key limit, a key gives up its oldest session without a relay for the new one.
      context.sessions.remove(evict);
      context.pool.release(evict.address);
      context.log.info(
        { client: evict.clientId, address: evict.address },
        "detached session given up for a new one",
      );
      limit = undefined;
    }
    if (limit) {
      context.admission?.done(true); // a good key at its limit: not charged as a failure
      return this.refuse(limit, LIMIT_RESULTS[limit] ?? "busy");
    }
    const session = resumed ?? this.newSession(hello.clientId);
    if (!session) return this.refuse("POOL_EXHAUSTED", "pool_exhausted");
    this.session = session;
    const replaced = context.sessions.attach(session, this.leg);
    // A leg the exit had not noticed was dead yet (the phone redialed first): this one wins.
    if (replaced && replaced !== this.leg) replaced.socket.close(ErrorCodes.REPLACED.close, "REPLACED");
    context.metrics.sessions.set(context.sessions.attached);
    clearTimeout(this.handshakeTimer);
    context.admission?.done(true);
    // Silence from the phone means the leg is dead; while packets flow down, end-to-end PINGs
    // let the send queue see the queue in front of the phone's downlink (SendQueue.pathRtt).
    let lastPingAt = 0;
    this.heartbeat = new Heartbeat({
      ping: (id, sentAt) => {
        if (this.state !== "established" || !pathPingDue(sentAt, session.lastSentAt, lastPingAt)) return;
        lastPingAt = sentAt;
        this.send(encodeFrame({ type: FrameType.PING, hop: Hop.END_TO_END, id, sentAt }));
      },
      dead: () => this.leg.socket.terminate(),
      intervalMs: PATH_PING_MS,
    });
    this.state = "established";
    const version = Math.min(hello.versionMax, PROTOCOL_VERSION_MAX);
    this.send(
      encodeFrame({
        type: FrameType.WELCOME,
        version,
        sessionId: session.id,
        resumeToken: session.resumeToken,
        address: session.address,
        prefixLength: 32,
        mtu: context.mtu,
        dns: context.dns,
        keepaliveSeconds: context.keepaliveSeconds,
        resumed: Boolean(resumed),
      }),
    );
    const result = resumed ? "resumed" : hello.resumeToken ? "expired" : "ok";
    context.metrics.handshake(result);
    context.log.info(
      { remote: this.remote, client: hello.clientId, address: session.address, version, result },
      resumed
        ? "session resumed"
        : hello.resumeToken
          ? "resume token expired: new session"
          : "session started",
    );
  }

  private newSession(clientId: string): Session | undefined {
    const address = this.context.pool.allocate();
    if (!address) return undefined;
    const session = new Session({
      id: new Uint8Array(randomBytes(SESSION_ID_BYTES)),
      clientId,
      address,
      addressInt: ipv4ToInt(address)!,
      resumeToken: new Uint8Array(randomBytes(RESUME_TOKEN_BYTES)),
      leg: this.leg,
    });
    this.context.sessions.add(session);
    return session;
  }

  private data(frame: DataFrame): void {
    const session = this.session!;
    const { tun, metrics, egress, rateLimit } = this.context;
    const now = rateLimit ? performance.now() : 0;
    let packets = 0;
    let bytes = 0;
    for (const packet of frame.packets) {
      const refusal = isIpv4(packet) ? egress?.check(packet) : undefined;
      if (!isIpv4(packet)) {
        metrics.drop("not_ipv4");
      } else if (ipv4Source(packet) !== session.addressInt) {
        metrics.drop("spoofed_source");
      } else if (refusal) {
        metrics.drop(refusal);
      } else if (rateLimit && !rateLimit.allow(session, "up", packet.length, now)) {
        metrics.drop("rate_limited");
      } else if (!tun.write(packet)) {
        metrics.drop("tun_write_failed");
      } else {
        packets++;
        bytes += packet.length;
      }
    }
    metrics.relayed("up", packets, bytes);
    this.leg.queue.received(bytes);
  }

  /**
   * Ends the handshake or session with a stable code: CLOSE frame to the laptop, close code to the
   * phone. `detail` goes to the log; the laptop gets it too unless it would tell a stranger
   * something (which client names exist).
   */
  private refuse(code: ErrorCode, result: HandshakeResult, detail?: string): void {
    if (this.state === "closed") return;
    if (this.state !== "established") {
      this.context.metrics.handshake(result);
      this.context.admission?.done(false);
    }
    this.context.log.warn(
      { remote: this.remote, code, reason: detail ?? ErrorCodes[code].message },
      "connection refused",
    );
    const reason = code === "AUTH_FAILED" || !detail ? ErrorCodes[code].message : detail;
    this.send(
      encodeFrame({ type: FrameType.CLOSE, code: ErrorCodes[code].close, reason: fitReason(reason) }),
    );
    this.leg.socket.close(ErrorCodes[code].close, code);
    this.closed();
  }

  /** Tells the laptop the exit is going away, then closes. */
  shutdown(): void {
    this.refuse("SHUTTING_DOWN", "protocol_error");
  }

  /** The client this connection carries a session for, once authenticated. */
  get clientId(): string | undefined {
    return this.session?.clientId;
  }

  /** Ends the connection with `code` (a revoked key: AUTH_FAILED) and a reason for the log. */
  end(code: ErrorCode, detail: string): void {
    this.refuse(code, "protocol_error", detail);
  }

  private closed(): void {
    if (this.state === "closed") return;
    this.state = "closed";
    clearTimeout(this.handshakeTimer);
    this.context.admission?.done(true); // gone before the handshake ended: frees the slot, no charge
    this.heartbeat?.stop();
    const { session, context } = this;
    if (session) {
      context.sessions.detach(session, this.leg);
      context.metrics.sessions.set(context.sessions.attached);
      context.log.info(
        { remote: this.remote, client: session.clientId, address: session.address },
        "relay gone: session detached",
      );
    }
  }
}
