// When to dial a dropped leg again: exponential backoff with jitter, capped, reset by a success.
// Jitter keeps many phones behind one outage from redialing the exit in lockstep.

/** First retry after this, ms: a blip (a socket killed, a page reload) recovers almost at once. */
export const BACKOFF_INITIAL_MS = 200;
/** Longest wait between tries, ms: once the link is back, a leg is up within about this. */
export const BACKOFF_MAX_MS = 5_000;
/** Each failure multiplies the wait by this. */
export const BACKOFF_FACTOR = 2;
/** Each wait is the nominal one times a random factor in [1 - JITTER, 1 + JITTER]. */
export const BACKOFF_JITTER = 0.25;

export class Backoff {
  private failures = 0;

  constructor(private readonly random: () => number = Math.random) {}

  /** The wait before the next try, ms; each call counts one more failure. */
  next(): number {
    const nominal = Math.min(BACKOFF_INITIAL_MS * BACKOFF_FACTOR ** this.failures, BACKOFF_MAX_MS);
    this.failures++;
    const jitter = 1 + BACKOFF_JITTER * (2 * this.random() - 1);
    return Math.round(nominal * jitter);
  }

  /** A connection succeeded: the next failure starts from the beginning. */
  reset(): void {
    this.failures = 0;
  }

  get attempts(): number {
    return this.failures;
  }
}
