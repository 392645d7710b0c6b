// "Tether paused, tap to resume": when the relay stops while the app is hidden (the phone locked
// its screen, the user switched apps, the browser froze the page), the laptop is offline and the
// user cannot see why. Where notifications are permitted, one says so (PauseWatch decides when); a
// tap, handled by the service worker, brings the app back, which resumes by itself.
import { PauseWatch } from "../shared/pause.js";

export const PAUSE_TAG = "tether-paused";

export class PauseNotifier {
  onChange: () => void = () => undefined;
  private readonly watch = new PauseWatch();
  /** Held from the start: a page being frozen gets no turn to wait for it. */
  private registration: ServiceWorkerRegistration | undefined;

  constructor(registration: Promise<ServiceWorkerRegistration | undefined>) {
    void registration.then((r) => {
      this.registration = r;
    });
    // Synchronous on purpose: no promise resolves in a frozen page.
    document.addEventListener("freeze", () => this.act(this.watch.freezing()));
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
    this.act(this.watch.tick(relaying, hidden, now));
  }

  private act(action: "show" | "close" | undefined): void {
    const registration = this.registration;
    if (!action || !registration || this.permission !== "granted") return;
    if (action === "show") {
      registration
        .showNotification("Tether paused", {
          body: "Your laptop is offline. Tap to resume relaying.",
          tag: PAUSE_TAG,
          icon: "/icons/icon-192.png",
          data: { url: "/" },
        })
        .catch(() => undefined);
    } else {
      void registration
        .getNotifications({ tag: PAUSE_TAG })
        .then((list) => {
          for (const notification of list) notification.close();
        })
        .catch(() => undefined);
    }
  }
}
