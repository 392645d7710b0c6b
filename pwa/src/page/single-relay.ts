// One relay per phone: two tabs relaying would open competing sockets (the laptop keeps only the
// newest, the exit sees a session bounce between them). A Web Lock names the relaying tab; any
// other tab waits for it, says so, and takes over when that tab closes.
//
// A tab opened from a pairing link takes the lock from whoever holds it (the user just asked for
// that laptop); a reload or a second window waits its turn.

export const RELAY_LOCK = "tether-relay";

export interface SingleRelayEvents {
  /** This tab may relay now. */
  held(): void;
  /** Another tab relays; this one waits. */
  waiting(): void;
  /** Another tab took the relay over; this one must stop its sockets (and waits again). */
  lost(): void;
}

export class SingleRelay {
  private queued: AbortController | undefined;
  private holding = false;

  constructor(private readonly events: SingleRelayEvents) {}

  /** Without the Web Locks API (old browsers) every tab relays, as before. */
  static get supported(): boolean {
    return "locks" in navigator;
  }

  /** Asks for the relay: at once if `take` (taking it from another tab), else when free. */
  claim(take: boolean): void {
    if (!SingleRelay.supported) {
      this.grant();
      return;
    }
    if (take) {
      this.queued?.abort();
      this.queued = undefined;
      this.hold(navigator.locks.request(RELAY_LOCK, { steal: true }, () => this.holdForever()));
      return;
    }
    navigator.locks
      .request(RELAY_LOCK, { ifAvailable: true }, (lock) => {
        if (!lock) {
          this.events.waiting();
          this.queue();
          return undefined;
        }
        return this.holdForever();
      })
      .catch((error: unknown) => this.failed(error));
  }

  get held(): boolean {
    return this.holding;
  }

  private queue(): void {
    const controller = new AbortController();
    this.queued = controller;
    navigator.locks
      .request(RELAY_LOCK, { signal: controller.signal }, () => this.holdForever())
      .catch((error: unknown) => {
        // Cancelled by us (this tab took the lock instead): nothing was held.
        if (!controller.signal.aborted) this.failed(error);
      });
  }

  private hold(request: Promise<unknown>): void {
    request.catch((error: unknown) => this.failed(error));
  }

  /** Held until the page goes away (the browser frees it then) or another tab takes it. */
  private holdForever(): Promise<void> {
    this.queued = undefined;
    this.grant();
    return new Promise<void>(() => undefined);
  }

  private grant(): void {
    this.holding = true;
    this.events.held();
  }

  private failed(error: unknown): void {
    if ((error as { name?: string }).name !== "AbortError") throw error;
    // Taken from us by a tab opened from a pairing link.
    this.holding = false;
    this.events.lost();
    this.events.waiting();
    this.queue();
  }
}
