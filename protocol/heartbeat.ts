// How each end tells a live leg from a dead one, even when no close ever arrives (a phone that
// slept, a NAT that forgot, iOS's "zombie" sockets). The phone PINGs each leg every
// HEARTBEAT_INTERVAL_MS; any message counts as a sign of life; a leg silent for
// HEARTBEAT_TIMEOUT_MS is dead, torn down and redialed. The laptop and exit use the same timeout
// on the relay's socket, which the phone's pings keep busy.
//
//   start ──> alive ──(no message for TIMEOUT)──> dead (onDead, once)
//               ^  └── every INTERVAL: PING ──┘
//               └── any message: alive again
//
// Isomorphic: only setTimeout/clearTimeout and an injectable clock, so tests use fake timers.

/** Between two PINGs on a leg, ms: small enough to notice a dead leg fast, cheap on data. */
export const HEARTBEAT_INTERVAL_MS = 1_000;

/** Silence after which a leg is dead, ms: three missed PINGs and some slack for a slow link. */
export const HEARTBEAT_TIMEOUT_MS = 3_500;

export interface HeartbeatOptions {
  /** Sends a PING with this id and timestamp. Not called when `intervalMs` is 0 (listen only). */
  ping?: (id: number, sentAt: number) => void;
  /** The leg has been silent too long. Called once. */
  dead: () => void;
  intervalMs?: number;
  timeoutMs?: number;
  now?: () => number;
}

export class Heartbeat {
  /** Round-trip time of the last answered PING, ms. */
  rttMs: number | undefined;
  private nextId = 1;
  private pingTimer: ReturnType<typeof setTimeout> | undefined;
  private deadTimer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;

  constructor(private readonly options: HeartbeatOptions) {
    this.intervalMs = options.intervalMs ?? HEARTBEAT_INTERVAL_MS;
    this.timeoutMs = options.timeoutMs ?? HEARTBEAT_TIMEOUT_MS;
    this.now = options.now ?? Date.now;
    this.alive();
    if (options.ping && this.intervalMs > 0) this.schedulePing(0);
  }

  /** Any message arrived on the leg. */
  alive(): void {
    if (this.stopped) return;
    clearTimeout(this.deadTimer);
    this.deadTimer = setTimeout(() => {
      this.stop();
      this.options.dead();
    }, this.timeoutMs);
  }

  /** A PONG to one of our PINGs arrived: its round trip is the leg's RTT. */
  pong(sentAt: number): void {
    const rtt = this.now() - sentAt;
    if (rtt >= 0 && rtt < this.timeoutMs * 10) this.rttMs = rtt;
    this.alive();
  }

  private schedulePing(delay: number): void {
    this.pingTimer = setTimeout(() => {
      if (this.stopped) return;
      this.options.ping?.(this.nextId++ >>> 0, this.now());
      this.schedulePing(this.intervalMs);
    }, delay);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.pingTimer);
    clearTimeout(this.deadTimer);
  }
}

/** Between two end-to-end PINGs of an idle tunnel, ms: enough for the RTT shown to people. */
export const END_TO_END_PING_MS = 2_000;
/**
 * Between two end-to-end PINGs while packets flow, ms: a sender reads the queue down the path
 * from their round trips (SendQueue.pathRtt), and must see a standing queue well within CoDel's
 * interval. Twenty small frames a second, only while the tunnel is busy anyway.
 */
export const PATH_PING_MS = 50;
/** Packets sent within this long count as "flowing", ms. */
export const BUSY_MS = 500;

/** Whether an end of the tunnel should send an end-to-end PING now (checked every PATH_PING_MS). */
export function pathPingDue(now: number, lastSentAt: number, lastPingAt: number): boolean {
  return now - lastSentAt < BUSY_MS || now - lastPingAt >= END_TO_END_PING_MS;
}
