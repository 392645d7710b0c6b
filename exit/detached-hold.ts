// While a session has no leg (the phone is redialing its exit leg), the packets for it wait here a
// moment instead of being dropped, and go to the laptop first once the session resumes.
//
// Why: a dropped packet is only resent by the inner TCP's retransmission timer, which doubles with
// every retransmission lost while the leg is down. Measured with the exit leg killed mid-download
// (e2e/resume.test.ts): the session was back 280-460 ms after the drop, but the first packet
// relayed again came up to 490 ms later, and on a loaded machine seconds later (654-4069 ms):
// the server waiting out its timer. Held and sent at the resume, the newest packets (the
// retransmission among them) reach the laptop at once, its ACKs start the flow again.
//
// Bounded, so a phone that stays away costs nothing: HOLD_MAX_BYTES per session (the oldest go
// first: the newest are the retransmissions), none older than HOLD_MAX_AGE_MS (a packet that old
// is resent by then anyway); whatever falls out is counted as `detached`, as before. Packets are
// copied in: the TUN hands over views into its whole read batch, which must not be kept alive.

/** Bytes of packets held per detached session: a few in flight and the retransmissions after them. */
export const HOLD_MAX_BYTES = 128 * 1024;
/** A held packet older than this is dropped rather than sent, ms: the inner TCP has resent it. */
export const HOLD_MAX_AGE_MS = 1_000;

export class DetachedHold {
  private packets: Uint8Array[] = [];
  private heldAt: number[] = [];
  private bytes = 0;

  constructor(
    private readonly maxBytes = HOLD_MAX_BYTES,
    private readonly maxAgeMs = HOLD_MAX_AGE_MS,
  ) {}

  /** Packets held now. */
  get size(): number {
    return this.packets.length;
  }

  /** Keeps copies of `packets` (at `now`, ms); returns how many packets fell out (to be counted). */
  hold(packets: readonly Uint8Array[], now: number): number {
    let dropped = this.expire(now);
    for (const packet of packets) {
      if (packet.length > this.maxBytes) {
        dropped++;
        continue;
      }
      this.packets.push(packet.slice());
      this.heldAt.push(now);
      this.bytes += packet.length;
    }
    let first = 0;
    while (this.bytes > this.maxBytes) this.bytes -= this.packets[first++]!.length;
    if (first > 0) this.cut(first);
    return dropped + first;
  }

  /** Empties the hold: the packets still young enough to send, oldest first, and how many expired. */
  take(now: number): { packets: Uint8Array[]; expired: number } {
    const expired = this.expire(now);
    const packets = this.packets;
    this.packets = [];
    this.heldAt = [];
    this.bytes = 0;
    return { packets, expired };
  }

  /** Drops what is older than the age limit; returns how many. */
  private expire(now: number): number {
    let first = 0;
    while (first < this.heldAt.length && now - this.heldAt[first]! > this.maxAgeMs) {
      this.bytes -= this.packets[first]!.length;
      first++;
    }
    if (first > 0) this.cut(first);
    return first;
  }

  private cut(first: number): void {
    this.packets = this.packets.slice(first);
    this.heldAt = this.heldAt.slice(first);
  }
}
