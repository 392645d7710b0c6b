// When to say "Tether paused, tap to resume": the relay stopped while the app is out of sight,
// for longer than a blip (legs often come back by themselves within seconds), or the browser is
// about to freeze the page while it relays. Said once per pause; taken back when relaying again.
// Pure: the page's notifier (page/notify.ts) does the showing.

/** Legs often come back by themselves within this, ms: no notification for a blip. */
export const PAUSE_NOTICE_DELAY_MS = 5_000;

export type PauseAction = "show" | "close" | undefined;

export class PauseWatch {
  private relayedOnce = false;
  private pausedSince: number | undefined;
  private shown = false;

  /** At every sample: whether the relay relays, and whether the page is hidden. */
  tick(relaying: boolean, hidden: boolean, now: number): PauseAction {
    if (relaying) {
      this.relayedOnce = true;
      this.pausedSince = undefined;
      if (!this.shown) return undefined;
      this.shown = false;
      return "close";
    }
    if (!this.relayedOnce) return undefined;
    this.pausedSince ??= now;
    if (!hidden || this.shown || now - this.pausedSince < PAUSE_NOTICE_DELAY_MS) return undefined;
    this.shown = true;
    return "show";
  }

  /** The browser is freezing the page: a relaying page stops now. */
  freezing(): PauseAction {
    if (!this.relayedOnce || this.pausedSince !== undefined || this.shown) return undefined;
    this.shown = true;
    return "show";
  }
}
