// Keeps the screen on while relaying (a phone that sleeps stops the page, and the laptop with it).
// The browser drops the lock whenever the page is hidden, so it is taken again when the page is
// visible. Where the API is missing (older iOS, Firefox) it says so plainly.

export type WakeStatus = "unsupported" | "off" | "held" | "waiting" | "failed";

export class ScreenAwake {
  status: WakeStatus;
  error = "";
  onChange: () => void = () => undefined;
  private sentinel: WakeLockSentinel | undefined;
  private wanted = false;
  private enabled = true;
  private requesting = false;

  constructor() {
    this.status = "wakeLock" in navigator ? "off" : "unsupported";
    document.addEventListener("visibilitychange", () => this.apply());
  }

  get supported(): boolean {
    return this.status !== "unsupported";
  }

  /** The user's toggle. */
  setEnabled(enabled: boolean): void {
    this.enabled = enabled;
    this.apply();
  }

  /** Whether the app is relaying (or trying to), i.e. whether the screen should stay on. */
  want(wanted: boolean): void {
    if (this.wanted === wanted) return;
    this.wanted = wanted;
    this.apply();
  }

  /** A sentence for the screen. */
  note(): string {
    switch (this.status) {
      case "unsupported":
        return "This browser cannot keep the screen on (no Screen Wake Lock). Set a long screen timeout while tethering, or the relay stops when the phone sleeps.";
      case "held":
        return "The screen stays on while relaying.";
      case "waiting":
        return "The screen is kept on again as soon as this page is visible.";
      case "failed":
        return `The browser refused to keep the screen on: ${this.error}`;
      default:
        return this.enabled
          ? "The screen is kept on once relaying starts."
          : "The screen may turn off: the relay may stop when it does.";
    }
  }

  private apply(): void {
    if (!this.supported) return;
    const should = this.wanted && this.enabled;
    if (!should) {
      const sentinel = this.sentinel;
      this.sentinel = undefined;
      void sentinel?.release().catch(() => undefined);
      this.set("off");
      return;
    }
    if (this.sentinel && !this.sentinel.released) return;
    if (document.visibilityState !== "visible") {
      this.set("waiting");
      return;
    }
    if (this.requesting) return;
    this.requesting = true;
    navigator.wakeLock.request("screen").then(
      (sentinel) => {
        this.requesting = false;
        if (!this.wanted || !this.enabled) {
          void sentinel.release();
          return;
        }
        this.sentinel = sentinel;
        sentinel.addEventListener("release", () => {
          if (this.sentinel === sentinel) this.sentinel = undefined;
          if (this.wanted && this.enabled) this.set("waiting");
        });
        this.set("held");
      },
      (error: unknown) => {
        this.requesting = false;
        this.error = error instanceof Error ? error.message : String(error);
        this.set("failed");
      },
    );
  }

  private set(status: WakeStatus): void {
    if (this.status === status) return;
    this.status = status;
    this.onChange();
  }
}
