// Everything the exit counts, as Prometheus metrics. One registry per Exit, so tests can run
// several exits in one process.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { LegDropReason } from "../tunnel/seal-leg.js";
import type { EgressRefusal6 } from "./egress-guard6.js";

export type DropReason =
  | "spoofed_source"
  /** Neither IPv4 nor IPv6 (or shorter than its header). */
  | "not_ip"
  /** IPv6 from a session this exit gave no IPv6 address. */
  | "no_ipv6"
  | "no_session"
  | "detached"
  | "send_buffer_full"
  | "tun_write_failed"
  | "frame_too_large"
  /** A super-packet whose headers do not hold up, or one from a laptop that did not offer them. */
  | "bad_super_packet"
  | "queue_delay"
  /** The send queue's memory bound: dropped from the flow holding the most (protocol/flow-queue.ts). */
  | "fattest_flow"
  /** Refused by the egress guard (exit/egress-guard.ts, egress-guard6.ts), one reason per refused range. */
  | EgressRefusal6
  /** Over the per-session rate limit. */
  | "rate_limited"
  /** A self-test ECHO not answered: before WELCOME, over the rate limit, or onto a backed-up leg. */
  | "self_test_echo";

/**
 * Why the exit refused a connection, an upgrade or a reply before (or outside) a session: each
 * counted under its reason in tether_exit_refusals_total.
 */
export type RefusalReason =
  /** Admission (exit/limits.ts): the source's failed-handshake budget is spent (RATE_LIMITED). */
  | "failed_handshakes"
  /** Admission: the source has its most handshakes in progress (RATE_LIMITED). */
  | "source_handshakes"
  /** Admission: the exit has its most handshakes in progress (EXIT_BUSY). */
  | "exit_handshakes"
  /** A TCP connection past its source's most connections without a session: cut at once. */
  | "source_connections"
  /** An upgrade of /tunnel from a page of another origin: 403. */
  | "foreign_origin"
  /** A trusted proxy's connection whose PROXY header is malformed or late: cut. */
  | "proxy_header"
  /** A leg that let too much wait unread (it does not read): closed, not buffered. */
  | "unread"
  /** A PING not answered: the leg's budget of control replies is spent, or it is not keyed yet. */
  | "control_reply";

export type HandshakeResult =
  | "ok"
  | "resumed"
  | "auth_failed"
  | "unsupported_version"
  | "timeout"
  | "pool_exhausted"
  | "protocol_error"
  | "expired"
  /** The leg closed before a valid HELLO (counted and charged as a failure). */
  | "abandoned"
  /** A resume token came without a valid proof (tunnel/noise-messages.ts): a new session instead. */
  | "resume_refused"
  /** Refused at admission or before the session (exit/limits.ts). */
  | "rate_limited"
  | "busy"
  | "session_limit";

export class ExitMetrics {
  readonly registry = new Registry();
  readonly sessions = new Gauge({
    name: "tether_exit_sessions",
    help: "Sessions with a connected relay.",
    registers: [this.registry],
  });
  readonly handshakes = new Counter({
    name: "tether_exit_handshakes_total",
    help: "Handshakes by result.",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly packets = new Counter({
    name: "tether_exit_packets_total",
    help: "IP packets relayed, by direction (up: laptop to internet).",
    labelNames: ["direction"] as const,
    registers: [this.registry],
  });
  readonly bytes = new Counter({
    name: "tether_exit_bytes_total",
    help: "IP bytes relayed, by direction (up: laptop to internet).",
    labelNames: ["direction"] as const,
    registers: [this.registry],
  });
  readonly drops = new Counter({
    name: "tether_exit_drops_total",
    help: "Packets dropped, by reason.",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });

  readonly ceMarks = new Counter({
    name: "tether_exit_ce_marks_total",
    help: "Segments to the phones marked Congestion Experienced instead of dropped (ECN-capable flows).",
    registers: [this.registry],
  });

  readonly framesDropped = new Counter({
    name: "tether_exit_frames_dropped_total",
    help: "Frames from relays dropped unopened (forged, replayed, too old, clear where sealed), by reason.",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });

  readonly refusals = new Counter({
    name: "tether_exit_refusals_total",
    help: "Connections, upgrades and control replies refused before or outside a session, by reason.",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });

  readonly queueDelay = new Histogram({
    name: "tether_exit_queue_delay_seconds",
    help: "How long frames to the phones waited in the send queue before their socket took them.",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly revoked = new Counter({
    name: "tether_exit_sessions_revoked_total",
    help: "Sessions ended because their client key was revoked.",
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /**
   * Gauges read when scraped: handshakes in progress, and the bytes waiting in the relays' send
   * buffers (the exit's only queue: bounded in time by CoDel and in bytes by MAX_SEND_BUFFER_BYTES per session).
   */
  observe(read: { handshaking(): number; sendBufferBytes(): number }): void {
    new Gauge({
      name: "tether_exit_handshakes_in_progress",
      help: "Connections that have not finished their handshake.",
      registers: [this.registry],
      collect() {
        this.set(read.handshaking());
      },
    });
    new Gauge({
      name: "tether_exit_send_buffer_bytes",
      help: "Bytes waiting in the relays' WebSocket send buffers, all sessions.",
      registers: [this.registry],
      collect() {
        this.set(read.sendBufferBytes());
      },
    });
  }

  drop(reason: DropReason, count = 1): void {
    this.drops.inc({ reason }, count);
  }

  marked(segments: number): void {
    this.ceMarks.inc(segments);
  }

  frameDropped(reason: LegDropReason): void {
    this.framesDropped.inc({ reason });
  }

  refused(reason: RefusalReason): void {
    this.refusals.inc({ reason });
  }

  handshake(result: HandshakeResult): void {
    this.handshakes.inc({ result });
  }

  relayed(direction: "up" | "down", packets: number, bytes: number): void {
    this.packets.inc({ direction }, packets);
    this.bytes.inc({ direction }, bytes);
  }
}
