// The receiver's replay window over frame counters, as RFC 6479 (and WireGuard) keep it: a ring of
// 32-bit words behind the highest counter seen, whole words cleared as the top moves, so every
// check and every move costs O(1) however far the counter jumps.
//
//   counter > top                      -> fresh (the window slides when it is accepted)
//   counter <= top - REPLAY_WINDOW_FRAMES -> too_old
//   otherwise                          -> replayed if its bit is set, else fresh
//
// check() decides without changing anything; accept() records a counter, and is called only after
// the frame's tag has verified, so a forged frame can never move the window or burn a counter.

/** Words in the ring: 256 x 32 bits = 8192 bits (WireGuard's size). */
export const REPLAY_WINDOW_WORDS = 256;
/**
 * Frames behind the newest that are still accepted (once each): the ring less the word being
 * cleared. Over one relay's TCP frames arrive in order; only a hostile relay reorders, and a
 * few thousand frames (8160: 0.5 GB of 64 KiB frames) is more than any honest path holds.
 */
export const REPLAY_WINDOW_FRAMES = (REPLAY_WINDOW_WORDS - 1) * 32;

export type ReplayVerdict = "fresh" | "replayed" | "too_old";

const WORD_BITS = 32;

export class ReplayWindow {
  private readonly ring = new Uint32Array(REPLAY_WINDOW_WORDS);
  /** Highest counter accepted; -1 before the first. */
  private top = -1;

  /** The verdict on `counter` (a safe integer >= 0), without recording it. */
  check(counter: number): ReplayVerdict {
    if (counter > this.top) return "fresh";
    if (counter <= this.top - REPLAY_WINDOW_FRAMES) return "too_old";
    return this.ring[wordOf(counter)]! & bitOf(counter) ? "replayed" : "fresh";
  }

  /** Records `counter`, which check() has just called fresh and whose frame has authenticated. */
  accept(counter: number): void {
    if (counter > this.top) {
      const from = this.top < 0 ? -1 : Math.floor(this.top / WORD_BITS);
      const to = Math.floor(counter / WORD_BITS);
      const words = Math.min(to - from, REPLAY_WINDOW_WORDS);
      // Words the top moves into hold bits of counters one ring ago: cleared.
      for (let i = 1; i <= words; i++) this.ring[(to - words + i) % REPLAY_WINDOW_WORDS] = 0;
      this.top = counter;
    }
    this.ring[wordOf(counter)]! |= bitOf(counter);
  }

  /** The highest counter accepted, -1 before the first. */
  get highest(): number {
    return this.top;
  }
}

function wordOf(counter: number): number {
  return Math.floor(counter / WORD_BITS) % REPLAY_WINDOW_WORDS;
}

function bitOf(counter: number): number {
  return 1 << (counter % WORD_BITS);
}
