// Token buckets: the per-session rate limit (off by default, --session-rate-limit MBIT) and the
// per-source limit on failed handshakes (exit/limits.ts). Pure: the caller passes the clock.

export class TokenBucket {
  private tokens: number;
  private last: number;

  /**
   * @param ratePerSecond tokens added per second
   * @param burst most tokens held: what may pass at once after an idle spell
   */
  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.ratePerSecond);
    }
    this.last = now;
  }

  /** Takes `n` tokens if there are that many; false (and nothing taken) otherwise. `now` in ms. */
  take(n: number, now: number): boolean {
    this.refill(now);
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  /** True when at least `n` tokens are there, without taking them. */
  has(n: number, now: number): boolean {
    this.refill(now);
    return this.tokens >= n;
  }

  /** True when the bucket is full again: nothing to remember about its owner. */
  full(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.burst;
  }
}

/**
 * Least burst a session's bucket allows, bytes: a few full-size packets, so a low limit still lets
 * a TCP window's first packets through instead of dropping every other one.
 */
export const MIN_SESSION_BURST_BYTES = 64 * 1024;
/** The burst is this much time at the full rate (when that is more than the minimum), seconds. */
export const SESSION_BURST_SECONDS = 0.1;

export type Direction = "up" | "down";

/**
 * One bucket per session and direction. Policing, not shaping: a packet over the rate is dropped
 * (and counted); the inner TCP slows down to the rate, a deeper queue would only add delay.
 */
export class SessionRateLimiter {
  private readonly buckets = new WeakMap<object, { up: TokenBucket; down: TokenBucket }>();
  private readonly bytesPerSecond: number;
  private readonly burstBytes: number;

  constructor(megabitsPerSecond: number) {
    this.bytesPerSecond = (megabitsPerSecond * 1e6) / 8;
    this.burstBytes = Math.max(MIN_SESSION_BURST_BYTES, this.bytesPerSecond * SESSION_BURST_SECONDS);
  }

  /** True when `bytes` more may pass for `session` in `direction` now; takes them if so. */
  allow(session: object, direction: Direction, bytes: number, now: number): boolean {
    let pair = this.buckets.get(session);
    if (!pair) {
      pair = {
        up: new TokenBucket(this.bytesPerSecond, this.burstBytes, now),
        down: new TokenBucket(this.bytesPerSecond, this.burstBytes, now),
      };
      this.buckets.set(session, pair);
    }
    return pair[direction].take(bytes, now);
  }
}

/** --session-rate-limit's value: megabits per second, > 0. Undefined for an invalid value. */
export function parseMegabits(text: string): number | undefined {
  const value = Number(text);
  return text.trim() !== "" && Number.isFinite(value) && value > 0 ? value : undefined;
}
