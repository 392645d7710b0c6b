// What a tunnel end gives a peer that only asks: answers to its PINGs come out of a budget, and a
// peer that lets what it was sent pile up unread is closed, never buffered for. One unauthenticated
// socket streaming PINGs and never reading took an exit from 94 MB to 1.35 GB in 6 s before these.
//
//   PING from the peer ──> answered at all here (the exit: only once keyed)? ──> budget has a token?
//                              └─ no: not answered, counted                     └─ no: not answered, counted
//   anything sent ──> more than MAX_UNREAD_BYTES unsent on the leg? ──> the leg is terminated, counted

/**
 * PONGs a tunnel end sends per second, at most: the phone PINGs each leg once a second and the far
 * end's path probe every 50 ms while busy (tunnel/path-probe.ts), 21 a second; three times that.
 */
export const CONTROL_REPLIES_PER_SECOND = 64;

/** PONGs that may go out at once after a quiet spell: a burst of the path probe's and the phone's. */
export const CONTROL_REPLY_BURST = 128;

/**
 * Bytes a leg may hold unsent before its peer counts as not reading, and the leg is terminated:
 * above what an honest leg ever holds (the send queue's 4 MiB, MAX_SEND_BUFFER_BYTES, plus a
 * frame, and ECHO answers stop at 1 MiB), far below what would hurt the process.
 */
export const MAX_UNREAD_BYTES = 8 * 1024 * 1024;

/** Why a tunnel end refused its peer something: counted by the owner (exit/metrics.ts). */
export type ControlRefusal =
  /** A PING not answered: before the keys (the exit's leg), or over the budget. */
  | "control_reply"
  /** The leg held more than MAX_UNREAD_BYTES unsent: its peer does not read. Terminated. */
  | "unread";

/** A token bucket of replies; pure apart from the clock, which the caller may pass. */
export class ReplyBudget {
  private tokens = CONTROL_REPLY_BURST;
  private last: number;

  constructor(private readonly now: () => number = () => performance.now()) {
    this.last = now();
  }

  /** Takes one reply's token: false (nothing taken) when the budget is spent for now. */
  take(): boolean {
    const now = this.now();
    this.tokens = Math.min(
      CONTROL_REPLY_BURST,
      this.tokens + ((now - this.last) / 1000) * CONTROL_REPLIES_PER_SECOND,
    );
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * How long a leg's peer has to answer our close before its socket is destroyed, ms (ws's
 * `closeTimeout`): its default, 30 s, let a peer that never reads hold a refused socket that long.
 */
export const CLOSE_HANDSHAKE_TIMEOUT_MS = 3_000;
