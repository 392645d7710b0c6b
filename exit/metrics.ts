// Everything the exit counts, as Prometheus metrics. One registry per Exit, so tests can run
// several exits in one process.
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";

export type DropReason =
  | "spoofed_source"
  | "not_ipv4"
  | "no_session"
  | "detached"
  | "send_buffer_full"
  | "tun_write_failed"
  | "frame_too_large";

export type HandshakeResult =
  | "ok"
  | "resumed"
  | "auth_failed"
  | "unsupported_version"
  | "timeout"
  | "pool_exhausted"
  | "protocol_error"
  | "expired";

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

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  drop(reason: DropReason, count = 1): void {
    this.drops.inc({ reason }, count);
  }

  handshake(result: HandshakeResult): void {
    this.handshakes.inc({ result });
  }

  relayed(direction: "up" | "down", packets: number, bytes: number): void {
    this.packets.inc({ direction }, packets);
    this.bytes.inc({ direction }, bytes);
  }
}
