// Path probing at a tunnel end, apart from the heartbeat (which only tells a live leg from a dead
// one): end-to-end PINGs through the phone to the far end, every PATH_PING_MS while packets flow
// and every END_TO_END_PING_MS when idle. Their round trip is the path's RTT (shown to people),
// and what it grows above its base is the queue down the path, which the send queue's CoDel acts
// on (SendQueue.pathRtt). Started once the handshake is done; stopped with the leg.
import { HEARTBEAT_TIMEOUT_MS, PATH_PING_MS, pathPingDue } from "../protocol/heartbeat.js";

/** A round trip longer than this is not believed (a clock step, a forged PONG), ms. */
const MAX_BELIEVABLE_RTT_MS = HEARTBEAT_TIMEOUT_MS * 10;

export interface PathProbeOptions {
  /** Sends an end-to-end PING with this id and timestamp. */
  ping(id: number, sentAt: number): void;
  /** A round trip was measured, ms. */
  rtt(rttMs: number): void;
  now?: () => number;
}

export class PathProbe {
  /** Round trip of the last answered end-to-end PING, ms. */
  rttMs: number | undefined;
  private lastSentAt = 0;
  private lastPingAt = 0;
  private nextId = 1;
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly now: () => number;

  constructor(private readonly options: PathProbeOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Starts probing: one check at once, then every PATH_PING_MS. Again is a no-op. */
  start(): void {
    if (this.timer) return;
    const tick = () => {
      const now = this.now();
      if (!pathPingDue(now, this.lastSentAt, this.lastPingAt)) return;
      this.lastPingAt = now;
      this.options.ping(this.nextId++ >>> 0, now);
    };
    this.timer = setInterval(tick, PATH_PING_MS);
    setTimeout(() => this.timer && tick(), 0);
  }

  /** Packets went to the far end now: the tunnel is busy, probe often. */
  sent(): void {
    this.lastSentAt = this.now();
  }

  /** The PONG of one of our PINGs, sent at `sentAt` by our clock. */
  pong(sentAt: number): void {
    const rtt = this.now() - sentAt;
    if (!(rtt >= 0 && rtt < MAX_BELIEVABLE_RTT_MS)) return;
    this.rttMs = rtt;
    this.options.rtt(rtt);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
