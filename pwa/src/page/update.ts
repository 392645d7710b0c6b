// New versions of the app wait for a good moment: a reload in the middle of relaying would cut the
// laptop off. An update is applied by itself while no leg is open (nothing to cut), or at once
// when the user taps "Update now". Another tab applying it does not reload this one mid-relay.
import { registerSW } from "virtual:pwa-register";

/** How often a long-open app asks the server for a new version, ms. */
const UPDATE_CHECK_MS = 60 * 60_000;

export class Updates {
  /** A new version is installed and waiting. */
  ready = false;
  onChange: () => void = () => undefined;
  private readonly updateSW: (reload?: boolean) => Promise<void>;
  private reloadPending = false;
  private userAsked = false;
  private applying = false;

  constructor(private readonly idle: () => boolean) {
    this.updateSW = registerSW({
      immediate: true,
      onNeedRefresh: () => {
        this.ready = true;
        this.onChange();
        this.check();
      },
      // The new version took over (from this tab or another): reload into it, when it cuts nothing.
      onNeedReload: () => {
        this.reloadPending = true;
        this.check();
      },
      onRegisteredSW: (_url, registration) => {
        if (registration)
          setInterval(() => void registration.update().catch(() => undefined), UPDATE_CHECK_MS);
      },
    });
  }

  /** Call when the relay's state changes: applies a waiting update if nothing would be cut. */
  check(): void {
    if (this.reloadPending && (this.userAsked || this.idle())) {
      this.reloadPending = false;
      location.reload();
    } else if (this.ready && !this.applying && this.idle()) {
      this.applying = true;
      void this.updateSW(true);
    }
  }

  /** The user's word: update now, relaying or not. */
  applyNow(): void {
    this.userAsked = true;
    if (this.reloadPending) this.check();
    else {
      this.applying = true;
      void this.updateSW(true);
    }
  }

  note(): string {
    return "It is applied when the relay is idle, or now if you say so.";
  }
}
