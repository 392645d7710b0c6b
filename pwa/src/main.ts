// The page's entry: reads the pairing, starts the relay, wires it to the view, registers the
// service worker. The relay's sockets live here, in the page, never in the service worker.
import { registerSW } from "virtual:pwa-register";
import { PairingError, parsePairing } from "./pairing.js";
import { Relay } from "./relay.js";
import { View } from "./view.js";

/** How often the view refreshes counters while relaying, ms. */
const REFRESH_MS = 250;

function exitTunnelUrl(): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/tunnel`;
}

function start(): void {
  let pairing: ReturnType<typeof parsePairing>;
  try {
    pairing = parsePairing(location.hash);
  } catch (error) {
    document.getElementById("message")!.textContent =
      error instanceof PairingError ? error.message : String(error);
    return;
  }
  if (!pairing) {
    document.getElementById("message")!.textContent =
      "Not paired yet: run `tether` on your laptop and open the link it prints (or scan its QR code).";
    return;
  }
  const relay = new Relay({
    laptopUrl: pairing.laptopUrl,
    secret: pairing.secret,
    exitUrl: exitTunnelUrl(),
    encoding: pairing.encoding,
  });
  const view = new View(
    () => relay.sample(),
    () => relay.relaying,
  );
  relay.onChange = () => view.update();
  // The network or the page may be back: redial waiting legs now rather than at their next try.
  window.addEventListener("online", () => relay.nudge());
  window.addEventListener("pageshow", () => relay.nudge());
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") relay.nudge();
  });
  setInterval(() => {
    if (document.visibilityState === "visible") view.update();
  }, REFRESH_MS);
  relay.start();
  // Exposed for tests and for curious users in the console.
  (globalThis as { tether?: unknown }).tether = { relay };
}

// Updates wait for the user's word: a reload in the middle of relaying would cut the laptop off.
registerSW({ immediate: true });
start();
