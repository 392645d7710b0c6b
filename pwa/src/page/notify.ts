// "Tether paused, tap to resume": when the relay stops while the app is hidden (the phone locked
// its screen, the user switched apps, the browser froze the page), the laptop is offline and the
// user cannot see why. Where notifications are permitted, one says so; a tap (handled by the
// service worker) brings the app back, which resumes by itself.

/** Legs often come back by themselves within this, ms: no notification for a blip. */
export const PAUSE_NOTICE_DELAY_MS = 5_000;
export const PAUSE_TAG = "tether-paused";

export class PauseNotifier {
  onChange: () => void = () => undefined;
  private relayedOnce = false;
  private pausedSince: number | undefined;
  private shown = false;

  constructor(private readonly registration: () => Promise<ServiceWorkerRegistration | undefined>) {
    // The browser is about to freeze this hidden page: the relay stops now, say so while we can.
    document.addEventListener("freeze", () => {
      if (this.pausedSince === undefined && this.relayedOnce) void this.show();
    });
  }

  get permission(): NotificationPermission | "unsupported" {
    return "Notification" in globalThis && "serviceWorker" in navigator
      ? Notification.permission
      : "unsupported";
  }

  /** Asks for permission (call from a tap). */
  async enable(): Promise<void> {
    if (this.permission === "unsupported") return;
    await Notification.requestPermission();
    this.onChange();
  }

  note(): string {
    switch (this.permission) {
      case "unsupported":
        return "This browser cannot show notifications from a web app (on iPhone: add Tether to the home screen first).";
      case "denied":
        return "Notifications are blocked for this site: allow them in the browser's site settings to hear when the relay pauses.";
      case "granted":
        return "You get a notification if the relay pauses while Tether is in the background.";
      default:
        return "";
    }
  }

  /** Called at every sample. */
  tick(relaying: boolean, hidden: boolean, now: number): void {
    if (relaying) {
      this.relayedOnce = true;
      this.pausedSince = undefined;
      if (this.shown) void this.close();
      return;
    }
    if (!this.relayedOnce) return;
    this.pausedSince ??= now;
    if (hidden && !this.shown && now - this.pausedSince >= PAUSE_NOTICE_DELAY_MS) void this.show();
  }

  private async show(): Promise<void> {
    if (this.permission !== "granted") return;
    this.shown = true;
    const registration = await this.registration();
    await registration
      ?.showNotification("Tether paused", {
        body: "Your laptop is offline. Tap to resume relaying.",
        tag: PAUSE_TAG,
        icon: "/icons/icon-192.png",
        data: { url: "/" },
      })
      .catch(() => undefined);
  }

  private async close(): Promise<void> {
    this.shown = false;
    const registration = await this.registration();
    for (const notification of (await registration?.getNotifications({ tag: PAUSE_TAG })) ?? [])
      notification.close();
  }
}
