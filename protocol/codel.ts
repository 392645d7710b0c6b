// Keeps a send queue short in time, not just in bytes: CoDel's control law (RFC 8289), applied
// where a tunnel end hands frames to its WebSocket. Each frame's sojourn (from send() to the
// moment the socket took it) is observed; once frames have waited longer than TARGET for a whole
// INTERVAL, the next DATA frames are dropped, ever closer together, until the queue drains. The
// inner TCP reads a drop as congestion and slows down, so one bulk flow cannot make every other
// flow wait behind seconds of queue (the TCP-over-TCP meltdown the peers suffer).
//
// Pure: the caller passes the clock, so tests drive it with numbers.

/** Queue delay the controller holds the queue to, ms. */
export const CODEL_TARGET_MS = 10;
/** How long the delay must stay above target before dropping starts, ms: about one worst RTT. */
export const CODEL_INTERVAL_MS = 100;

export class CoDel {
  /** Frames dropped by the control law since creation. */
  drops = 0;
  private firstAboveAt = 0;
  private dropping = false;
  private count = 0;
  private dropNext = 0;

  constructor(
    private readonly targetMs = CODEL_TARGET_MS,
    private readonly intervalMs = CODEL_INTERVAL_MS,
  ) {}

  /** A frame left the queue after waiting `sojournMs`. */
  observe(sojournMs: number, now: number): void {
    if (sojournMs < this.targetMs) {
      this.firstAboveAt = 0;
    } else if (this.firstAboveAt === 0) {
      this.firstAboveAt = now + this.intervalMs;
    }
  }

  /** The queue ran empty: whatever was observed before no longer holds. */
  drained(): void {
    this.firstAboveAt = 0;
    this.dropping = false;
  }

  /** Whether the next DATA frame should be dropped instead of queued. */
  shouldDrop(now: number): boolean {
    const okToDrop = this.firstAboveAt !== 0 && now >= this.firstAboveAt;
    if (this.dropping) {
      if (!okToDrop) {
        this.dropping = false;
        return false;
      }
      if (now < this.dropNext) return false;
      this.count++;
      this.dropNext += this.intervalMs / Math.sqrt(this.count);
      this.drops++;
      return true;
    }
    if (!okToDrop) return false;
    this.dropping = true;
    // Dropping again soon after the last episode: resume near the rate it ended at.
    this.count = this.count > 2 && now - this.dropNext < 16 * this.intervalMs ? this.count - 2 : 1;
    this.dropNext = now + this.intervalMs / Math.sqrt(this.count);
    this.drops++;
    return true;
  }
}
