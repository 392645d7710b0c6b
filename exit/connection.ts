// One exit leg, from the phone: its tunnel end (tunnel/end.ts), and the exit's state machine and
// policy around it. The laptop and the exit run a Noise handshake end to end through the leg
// (protocol v2, docs/PROTOCOL.md), and every frame after it is sealed:
//
//   phone connects ──> CHALLENGE(nonce) ──> HELLO(versions, client id, Noise message 1)
//        awaiting-hello ──> authenticating ──> RESPONSE(message 2), keys ──> sealed WELCOME | CLOSE
//                                                              established ──> closed
//
// A refusal before the keys (version, key, rate) is a clear CLOSE; after them, a sealed one. A
// resume needs the token and a proof made with the session's resume secret over this handshake
// (tunnel/noise-messages.ts): a token alone gets a new session.
//
// In `established`, DATA goes to the TUN (exit/uplink.ts), and the session's packets from the TUN
// come back through its tunnel end (exit/downlink.ts).

import { randomBytes } from "node:crypto";
import { encodeFrame } from "../protocol/codec.js";
import type { Encoding } from "../protocol/encoding.js";
import { type ErrorCode, ErrorCodes, ProtocolError } from "../protocol/errors.js";
import { FlowQueue } from "../protocol/flow-queue.js";
import { Capability, FrameType, Hop } from "../protocol/frames.js";
import { parseIpv4 } from "../protocol/ip.js";
import { RESUME_TOKEN_BYTES, SESSION_ID_BYTES } from "../protocol/limits.js";
import type { Transport, TransportClose } from "../protocol/transport.js";
import type { TunDevice } from "../tun/device.js";
import { TunnelEnd } from "../tunnel/end.js";
import {
  challengeFrame,
  decodeHello,
  HandshakeRefusal,
  helloVersion,
  newNonce,
  openHello,
} from "../tunnel/handshake.js";
import { type DecodedHello, verifyResumeProof } from "../tunnel/noise-messages.js";
import { echoAnswer } from "../tunnel/self-test.js";
import { sendHeld } from "./downlink.js";
import type { DualStack } from "./dual-stack.js";
import type { EgressGuard } from "./egress-guard.js";
import { type Admission, oldestDetached } from "./limits.js";
import type { Logger } from "./log.js";
import type { ExitMetrics, HandshakeResult } from "./metrics.js";
import type { AddressPool } from "./pool.js";
import type { SessionRateLimiter } from "./rate-limit.js";
import { Session, type SessionTable } from "./session.js";
import { toTun } from "./uplink.js";

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
  /** Both families' checks and each session's IPv6 (exit/dual-stack.ts); without it, IPv4 only. */
  dualStack?: DualStack<Session>;
  /** The per-session rate limit, when one is set. */
  rateLimit?: SessionRateLimiter;
  /** Packets per DATA frame at most (default MAX_PACKETS_PER_FRAME; 1 turns batching off). */
  maxPacketsPerFrame?: number | undefined;
  /** Take super-packets from a laptop that offers them, and send it some (default true). */
  superPackets?: boolean | undefined;
  /** The leg is gone (once). */
  closed?: (() => void) | undefined;
}

/** The handshake result each refusal is counted under. */
const REFUSAL_RESULTS: Partial<Record<ErrorCode, HandshakeResult>> = {
  UNSUPPORTED_VERSION: "unsupported_version",
  AUTH_FAILED: "auth_failed",
  EXIT_BUSY: "busy",
  SESSION_LIMIT: "session_limit",
};

/** An ECHO is not answered onto a leg holding more than this unsent: the test must not fill the exit's memory, bytes. */
const ECHO_MAX_BACKLOG_BYTES = 1024 * 1024;

/**
 * A leg closed without a valid HELLO after being held this long is a failed handshake, ms: a
 * laptop answers a CHALLENGE within a round trip, so only a slot held on purpose gets here.
 */
export const ABANDONED_AFTER_MS = 2_000;

type State = "awaiting-hello" | "authenticating" | "established" | "closed";

export class ExitConnection {
  private state: State = "awaiting-hello";
  private readonly tunnelEnd: TunnelEnd;
  /** The CHALLENGE as sent: the prologue of this connection's handshake starts with it. */
  private readonly challenge = encodeFrame(challengeFrame(newNonce()));
  private readonly handshakeTimer: NodeJS.Timeout;
  private readonly openedAt = performance.now();
  private session: Session | undefined;

  constructor(
    transport: Transport,
    encoding: Encoding,
    private readonly remote: string,
    private readonly context: ExitContext,
  ) {
    this.tunnelEnd = new TunnelEnd(
      {
        transport,
        encoding,
        legHop: Hop.EXIT_LEG,
        // Until WELCOME the handshake deadline covers silence; then the heartbeat does.
        watchFromStart: false,
        maxPacketsPerFrame: context.maxPacketsPerFrame,
        // Per-flow queues: a ping or a DNS answer never waits behind (or is dropped for) a transfer.
        queue: (sink) =>
          new FlowQueue(sink, {
            maxPacketsPerFrame: context.maxPacketsPerFrame,
            sojourn: (ms) => context.metrics.queueDelay.observe(ms / 1000),
            dropped: (reason, count) => context.metrics.drop(reason, count),
            marked: (segments) => context.metrics.marked(segments),
          }),
        dropped: (reason) => context.metrics.frameDropped(reason),
        refused: (reason) => context.metrics.refused(reason),
      },
      {
        frame: (frame, _bytes, sealed) => {
          throw new ProtocolError(
            "UNEXPECTED_FRAME",
            `${sealed ? "sealed" : "clear"} type ${frame.type} from a laptop`,
          );
        },
        handshake: (bytes) => this.handshake(bytes),
        data: (packets) => this.data(packets),
        peerClosed: (code, reason, sealed) =>
          context.log.info(
            { remote, code, reason, sealed },
            sealed ? "laptop closed" : "relay sent a clear CLOSE",
          ),
        protocolError: (error) => this.refused(error.code, "protocol_error", error.message),
        closed: (close) => {
          this.closed(close);
          context.closed?.();
        },
        unknownFrame: (_type, frame) => this.echo(frame),
      },
    );
    this.handshakeTimer = setTimeout(
      () => this.refuse("HANDSHAKE_TIMEOUT", "timeout"),
      context.handshakeTimeoutMs,
    );
    this.tunnelEnd.sendFrame(this.challenge);
  }

  private handshake(bytes: Uint8Array): void {
    if (bytes[0] !== FrameType.HELLO)
      throw new ProtocolError("UNEXPECTED_FRAME", `handshake frame of type ${bytes[0]} from a laptop`);
    if (this.state !== "awaiting-hello") throw new ProtocolError("UNEXPECTED_FRAME", "HELLO twice");
    this.state = "authenticating";
    let version: number;
    try {
      version = helloVersion(bytes);
    } catch (error) {
      if (!(error instanceof HandshakeRefusal)) throw error;
      this.refuse(error.code, REFUSAL_RESULTS[error.code] ?? "protocol_error", error.message);
      return;
    }
    this.hello(decodeHello(bytes), version).catch((error) => {
      // A bug, not the peer's doing; this connection's alone: logged with its stack, the laptop
      // told to come back (EXIT_BUSY is retried), the exit serving on.
      this.context.log.error(
        { remote: this.remote, err: (error as Error).stack ?? String(error) },
        "handshake failed",
      );
      this.refuse("EXIT_BUSY", "protocol_error", "the exit could not check this handshake");
    });
  }

  private async hello(decoded: DecodedHello, version: number): Promise<void> {
    const { context } = this;
    let opened: Awaited<ReturnType<typeof openHello>>;
    try {
      opened = await openHello(this.challenge, decoded, context.secretFor);
    } catch (error) {
      if (this.state !== "authenticating") return; // closed while we checked
      if (error instanceof HandshakeRefusal)
        return this.refuse(error.code, REFUSAL_RESULTS[error.code] ?? "protocol_error", error.message);
      if (error instanceof ProtocolError) return this.refuse(error.code, "protocol_error", error.message);
      throw error;
    }
    if (this.state !== "authenticating") return; // closed while we checked
    const { hello, handshake } = opened;
    const resume = opened.opened.resume;
    // The laptop holds the key: answer, and from here on everything is sealed, refusals included.
    const { response, keys } = handshake.respond(version);
    this.tunnelEnd.sendFrame(response);
    this.tunnelEnd.installKeys(keys);
    const found = resume ? context.sessions.byResumeToken(resume.token, hello.clientId) : undefined;
    // A token without the proof (made with the session's resume secret over this handshake) is
    // worthless: whoever sent it gets a new session, not this one.
    const proofFailed =
      found !== undefined && resume !== undefined && !verifyResumeProof(found.resumeSecret, resume);
    const resumed = proofFailed ? undefined : found;
    let limit = resumed
      ? undefined
      : context.admission?.sessionRefusal(hello.clientId, context.sessions.all());
    const evict =
      limit === "SESSION_LIMIT" ? oldestDetached(hello.clientId, context.sessions.all()) : undefined;
    if (evict) {
      // At its per-key limit, a key gives up its oldest session without a relay for the new one.
      context.sessions.end(evict, "evicted");
      limit = undefined;
    }
    if (limit) {
      context.admission?.done(true); // a good key at its limit: not charged as a failure
      return this.refuse(limit, REFUSAL_RESULTS[limit] ?? "busy");
    }
    const session = resumed ?? this.newSession(hello.clientId, keys.resumeSecret);
    if (!session) return this.refuse("POOL_EXHAUSTED", "pool_exhausted");
    this.session = session;
    const replaced = context.sessions.attach(session, this.tunnelEnd);
    // A leg the exit had not noticed was dead yet (the phone redialed first): this one wins.
    if (replaced && replaced !== this.tunnelEnd) replaced.replaced();
    clearTimeout(this.handshakeTimer);
    context.admission?.done(true);
    this.state = "established";
    // Silence from the phone means the leg is dead; while packets flow down, end-to-end PINGs
    // let the send queue see the queue in front of the phone's downlink.
    this.tunnelEnd.established();
    // The IPv6 block only for a laptop that reads it (its capabilities came in Noise message 1).
    const ipv6 =
      opened.opened.capabilities & Capability.IPV6 ? context.dualStack?.welcome(session) : undefined;
    // Super-packets both ways on this leg only if the laptop offered them (sealed, in message 1).
    const superPackets =
      context.superPackets !== false && (opened.opened.capabilities & Capability.SUPER_PACKETS) !== 0;
    this.tunnelEnd.superPackets = superPackets;
    this.tunnelEnd.send({
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
      ipv6,
      superPackets,
    });
    // What came for it while it was away, held a moment (exit/detached-hold.ts): right behind the WELCOME.
    if (resumed) sendHeld(session, context.metrics);
    const result = resumed ? "resumed" : proofFailed ? "resume_refused" : resume ? "expired" : "ok";
    context.metrics.handshake(result);
    context.log.info(
      {
        remote: this.remote,
        client: hello.clientId,
        address: session.address,
        ipv6: ipv6?.address,
        superPackets,
        version,
        result,
      },
      resumed
        ? "session resumed"
        : proofFailed
          ? "resume proof did not verify: new session"
          : resume
            ? "resume token expired: new session"
            : "session started",
    );
  }

  private newSession(clientId: string, resumeSecret: Uint8Array): Session | undefined {
    const address = this.context.pool.allocate();
    if (!address) return undefined;
    const session = new Session({
      id: new Uint8Array(randomBytes(SESSION_ID_BYTES)),
      clientId,
      address,
      addressInt: parseIpv4(address),
      resumeToken: new Uint8Array(randomBytes(RESUME_TOKEN_BYTES)),
      resumeSecret,
      end: this.tunnelEnd,
    });
    this.context.sessions.add(session);
    return session;
  }

  /**
   * The phone's self-test: an ECHO from the laptop goes back as it came, only within an
   * established session and its rate limit, and not onto a backed-up leg; anything else is counted.
   */
  private echo(frame: Uint8Array): void {
    const answer = echoAnswer(frame);
    if (!answer) return; // not an ECHO: unknown types are skipped
    const { metrics, rateLimit } = this.context;
    const now = rateLimit ? performance.now() : 0;
    if (
      this.state !== "established" ||
      this.tunnelEnd.bufferedAmount > ECHO_MAX_BACKLOG_BYTES ||
      (rateLimit &&
        !(
          rateLimit.allow(this.session!, "up", frame.length, now) &&
          rateLimit.allow(this.session!, "down", frame.length, now)
        ))
    ) {
      metrics.drop("self_test_echo");
      return;
    }
    this.tunnelEnd.sendFrame(answer);
  }

  /** DATA from the laptop: to the TUN (exit/uplink.ts), once established. */
  private data(packets: Uint8Array[]): number {
    if (this.state !== "established") throw new ProtocolError("UNEXPECTED_FRAME", "DATA before WELCOME");
    return toTun(this.session!, packets, this.context, this.tunnelEnd.superPackets);
  }

  /**
   * The exit's accounting of a refusal: the handshake's result (until established), the source
   * charged with a failure, a log line. Then the connection is over for the exit.
   */
  private refused(code: ErrorCode, result: HandshakeResult, detail?: string): void {
    if (this.state === "closed") return;
    if (this.state !== "established") {
      this.context.metrics.handshake(result);
      this.context.admission?.done(false);
    }
    this.context.log.warn(
      { remote: this.remote, code, reason: detail ?? ErrorCodes[code].message },
      "connection refused",
    );
    this.closed();
  }

  /**
   * Ends the handshake or session with a stable code, the tunnel end's one way (CLOSE frame, then
   * the close code). `detail` goes to the log; the laptop gets it too unless it would tell a
   * stranger something (which client names exist).
   */
  private refuse(code: ErrorCode, result: HandshakeResult, detail?: string): void {
    if (this.state === "closed") return;
    this.refused(code, result, detail);
    this.tunnelEnd.end(code, code === "AUTH_FAILED" || !detail ? ErrorCodes[code].message : detail);
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

  private closed(close?: TransportClose): void {
    const { session, context } = this;
    const handshaking = this.state === "awaiting-hello" || this.state === "authenticating";
    // A leg held without a valid HELLO for long is a failed handshake, charged to its source: else
    // one address could hold every slot by closing each socket just before its deadline. A phone
    // closing its exit leg at once (its laptop leg dropped) is not charged.
    const abandoned =
      close !== undefined && handshaking && performance.now() - this.openedAt >= ABANDONED_AFTER_MS;
    if (close && handshaking && (close.error || abandoned)) {
      // The transport refused what the phone sent (past maxPayload, bad WebSocket framing), or
      // the peer held the slot and left.
      if (close.error)
        context.log.warn({ remote: this.remote, err: close.error.message }, "relay socket error");
      context.metrics.handshake(close.error ? "protocol_error" : "abandoned");
      context.admission?.done(false);
    }
    if (this.state === "closed") return;
    this.state = "closed";
    clearTimeout(this.handshakeTimer);
    context.admission?.done(true); // gone early, or authenticated already: frees the slot, no charge
    if (session) {
      context.sessions.detach(session, this.tunnelEnd);
      context.log.info(
        { remote: this.remote, client: session.clientId, address: session.address },
        "relay gone: session detached",
      );
    }
  }
}
