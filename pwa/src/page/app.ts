// The app in the page: it picks the pairing (the link's, or the stored one), runs the relay when
// this tab holds the single-relay lock, samples the relay's counters a few times a second for the
// view and the data counters, and answers the user's taps. It writes nothing to the DOM itself:
// the view does. The relay knows nothing of any of this; it only counts.
//
//   location.hash ─┐                      ┌─> RateMeter ─┐
//   IndexedDB ─────┴─> pairing ─> Relay ──┤ sample() 4/s ├─> present() ─> View (only while visible)
//                                         └─> UsageRecorder ──(every 5 s, on hide)──> IndexedDB
import { Relay, type RelayStats } from "../relay.js";
import { type Diagnosis, diagnose, isIos } from "../shared/diagnose.js";
import { parseCap } from "../shared/format.js";
import { type HiddenRecord, HiddenWatch } from "../shared/hidden-watch.js";
import { type Confirmation, confirmationFor } from "../shared/laptop-trust.js";
import {
  laptopPageUrl,
  type Pairing,
  PairingError,
  PROFILE_PATH,
  parsePairing,
  parsePairingLink,
} from "../shared/pairing.js";
import { chosenPairing, rememberPairing, type StoredPairing } from "../shared/pairings.js";
import { confirmView, present, type TabRole } from "../shared/present.js";
import { RateMeter, SAMPLE_INTERVAL_MS } from "../shared/rates.js";
import { selfTestCost, selfTestReport } from "../shared/self-test-report.js";
import { IdbStorage, type Storage } from "../shared/storage.js";
import { MemoryStorage } from "../shared/storage-memory.js";
import { USAGE_FLUSH_MS, UsageRecorder } from "../shared/usage.js";
import { PauseNotifier } from "./notify.js";
import { localNetworkPermission, probeLaptop } from "./probe.js";
import { QrScanner } from "./scan.js";
import { runSelfTest } from "./self-test.js";
import { SingleRelay } from "./single-relay.js";
import { Updates } from "./update.js";
import type { View } from "./view.js";
import { ScreenAwake } from "./wake.js";

/** The laptop leg has been failing this long before the app looks into why, ms. */
const DIAGNOSE_AFTER_MS = 3_000;
/** While it keeps failing, the clues are gathered again this often, ms. */
const DIAGNOSE_EVERY_MS = 15_000;

export class App {
  private storage: Storage = new MemoryStorage();
  private recorder = new UsageRecorder(this.storage);
  private readonly meter = new RateMeter();
  private readonly wake = new ScreenAwake();
  private readonly notifier = new PauseNotifier(serviceWorkerRegistration());
  private readonly updates = new Updates(() => this.idle());
  private readonly scanner = new QrScanner();
  private readonly hiddenWatch = new HiddenWatch();
  private lastHidden: HiddenRecord | undefined;
  private legsOpen = { laptop: false, exit: false };
  private test = { running: false, status: "", report: "" };
  private readonly single = new SingleRelay({
    held: () => this.lockHeld(),
    waiting: () => this.setRole("other-tab"),
    lost: () => {
      this.stopRelay();
      this.setRole("other-tab");
    },
  });
  private relay: Relay | undefined;
  private pairing: StoredPairing | undefined;
  private pairings: StoredPairing[] = [];
  private role: TabRole = "unpaired";
  private capBytes: number | undefined;
  private wakeEnabled = true;
  /** The user paused: no leg is dialed, even after a reload, until they resume. */
  private paused = false;
  private persistAsked = false;
  private storageNote = "";
  private diagnosis: Diagnosis | undefined;
  private laptopDownSince: number | undefined;
  private lastProbeAt = 0;
  private probing = false;
  private markedConnected = false;
  private sessionStart: number | undefined;
  private sessionRenewed = false;
  private drawPending = false;
  /** A link for a laptop not seen before, waiting for the user's yes (issue 10.8). */
  private pending: { pairing: Pairing; confirmation: Confirmation; step: "new" | "elsewhere" } | undefined;

  constructor(private readonly view: View) {}

  async start(): Promise<void> {
    try {
      this.storage = await IdbStorage.open();
    } catch (error) {
      this.storageNote = `This browser keeps no data for Tether (${(error as Error).message}): pairings and counters last only while the page is open.`;
    }
    this.recorder = new UsageRecorder(this.storage);
    const [pairings, chosenId, cap, wake, persisted, paused, lastHidden] = await Promise.all([
      this.storage.pairings(),
      this.storage.getSetting("chosenPairing"),
      this.storage.getSetting("capBytes"),
      this.storage.getSetting("wakeLock"),
      this.storage.getSetting("persisted"),
      this.storage.getSetting("paused"),
      this.storage.getSetting("lastHidden"),
      this.recorder.load(),
    ]);
    this.lastHidden = lastHidden;
    this.paused = paused ?? false;
    this.pairings = pairings;
    this.capBytes = cap;
    this.wakeEnabled = wake ?? true;
    this.persistAsked = persisted !== undefined;
    this.wake.setEnabled(this.wakeEnabled);
    if (persisted !== undefined) this.storageNote ||= persistenceNote(persisted);

    let fromLink: Pairing | undefined;
    try {
      fromLink = parsePairing(location.hash);
    } catch (error) {
      this.view.pairError(error instanceof PairingError ? error.message : String(error));
    }
    let relayLink = false;
    if (fromLink) {
      // The secret stays in storage (or in memory until the user says yes), not in the address
      // bar, history or a shared screenshot.
      history.replaceState(history.state, "", location.pathname + location.search);
      const confirmation = confirmationFor(fromLink, this.pairings, exitTunnelUrl());
      if (confirmation === "none") {
        // Opening a pairing link is asking to relay: it ends a pause.
        await this.setPaused(false);
        this.pairing = await this.remember(fromLink);
        relayLink = true;
      } else {
        this.ask(fromLink, confirmation);
      }
    }
    this.pairing ??= chosenPairing(this.pairings, chosenId);

    this.wake.onChange = () => this.chrome();
    this.notifier.onChange = () => this.chrome();
    this.updates.onChange = () => this.chrome();
    this.listen();
    this.chrome();
    if (this.pairing) this.single.claim(relayLink);
    this.draw();
  }

  /** For tests and the curious, from the console: `tether.relay.stats`, `await tether.flush()`. */
  get debug(): {
    relay: Relay | undefined;
    flush: () => Promise<void>;
    app: App;
    scanner: QrScanner;
  } {
    return { relay: this.relay, flush: () => this.recorder.flush(), app: this, scanner: this.scanner };
  }

  // ── the relay ───────────────────────────────────────────────────────────────────────────────

  private lockHeld(): void {
    // Another tab may have counted bytes while this one waited.
    void this.recorder.load().catch(() => undefined);
    if (this.paused) this.setRole("paused");
    else if (this.pairing) this.startRelay(this.pairing);
  }

  private startRelay(pairing: StoredPairing): void {
    this.stopRelay();
    const relay = new Relay({
      laptopUrl: pairing.laptopUrl,
      secret: pairing.secret,
      exitUrl: pairing.exitUrl,
      encoding: pairing.encoding,
    });
    this.relay = relay;
    this.markedConnected = false;
    this.laptopDownSince = undefined;
    this.sessionStart = undefined;
    this.sessionRenewed = false;
    relay.onChange = () => this.relayChanged();
    this.setRole("relay");
    relay.start();
    this.wake.want(true);
  }

  private stopRelay(how: "stop" | "pause" = "stop"): void {
    const relay = this.relay;
    if (!relay) return;
    this.recorder.observe(relay.stats.bytesUp, relay.stats.bytesDown);
    relay.onChange = () => undefined;
    if (how === "pause") relay.pause();
    else relay.stop();
    this.relay = undefined;
    this.diagnosis = undefined;
    this.wake.want(false);
    this.view.relaying(false);
    void this.recorder.flush().catch(() => undefined);
  }

  private relayChanged(): void {
    const relay = this.relay;
    if (!relay) return;
    this.followLegs(relay.stats);
    this.view.relaying(relay.relaying);
    if (relay.stats.laptop.state === "open") {
      this.laptopDownSince = undefined;
      this.diagnosis = undefined;
      if (!this.markedConnected && this.pairing) {
        this.markedConnected = true;
        this.pairing.connectedAt = Date.now();
        void this.storage.putPairing(this.pairing).catch(() => undefined);
      }
    }
    this.updates.check();
    this.draw();
  }

  /** A leg that closed while the app was hidden ends its life in the hidden record. */
  private followLegs(stats: RelayStats): void {
    const now = Date.now();
    for (const name of ["laptop", "exit"] as const) {
      const open = stats[name].state === "open";
      if (this.legsOpen[name] && !open) this.keepHidden(this.hiddenWatch.legClosed(name, now));
      this.legsOpen[name] = open;
    }
  }

  private keepHidden(record: HiddenRecord | undefined): void {
    if (!record) return;
    this.lastHidden = record;
    void this.storage.setSetting("lastHidden", record).catch(() => undefined);
  }

  /** No leg open: an update (a reload) would cut nothing. */
  private idle(): boolean {
    const stats = this.relay?.stats;
    return !stats || (stats.laptop.state !== "open" && stats.exit.state !== "open");
  }

  private setRole(role: TabRole): void {
    this.role = role;
    this.view.otherTab(role === "other-tab");
    this.draw();
  }

  // ── sampling ────────────────────────────────────────────────────────────────────────────────

  private listen(): void {
    // The network or the page may be back: redial waiting legs now rather than at their next try.
    const nudge = () => this.relay?.nudge();
    window.addEventListener("online", nudge);
    window.addEventListener("pageshow", nudge);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") {
        this.keepHidden(this.hiddenWatch.visible(Date.now()));
        nudge();
        this.draw();
      } else {
        this.keepHidden(this.hiddenWatch.hidden(Date.now(), { ...this.legsOpen }));
        void this.recorder.save().catch(() => undefined);
      }
    });
    // An unloading page gets no second turn: save() issues its writes before returning.
    window.addEventListener("pagehide", () => void this.recorder.save().catch(() => undefined));
    setInterval(() => this.tick(), SAMPLE_INTERVAL_MS);
    setInterval(() => void this.recorder.flush().catch(() => undefined), USAGE_FLUSH_MS);
  }

  private tick(): void {
    const now = Date.now();
    const relay = this.relay;
    if (relay) {
      const stats = relay.sample();
      this.meter.push({
        at: now,
        bytesUp: stats.bytesUp,
        bytesDown: stats.bytesDown,
        packetsUp: stats.packetsUp,
        packetsDown: stats.packetsDown,
      });
      this.recorder.observe(stats.bytesUp, stats.bytesDown);
      this.followSession(stats);
      this.watchLaptopLeg(stats, now);
    }
    // A pause the user asked for is no surprise: no "Tether paused" notification for it.
    this.notifier.tick((relay?.relaying ?? false) || this.paused, document.visibilityState === "hidden", now);
    if (document.visibilityState === "visible") this.drawNow();
  }

  /** A new session where there was one means the old one expired at the exit. */
  private followSession(stats: RelayStats): void {
    const started = stats.sessionStartedAt;
    if (started === undefined || started === this.sessionStart) return;
    if (this.sessionStart !== undefined && stats.session === "established") this.sessionRenewed = true;
    if (stats.session === "resumed") this.sessionRenewed = false;
    this.sessionStart = started;
  }

  // ── why the laptop leg fails ────────────────────────────────────────────────────────────────

  private watchLaptopLeg(stats: RelayStats, now: number): void {
    if (stats.laptop.state === "open" || stats.laptop.state === "idle") return;
    this.laptopDownSince ??= now;
    if (stats.laptop.state !== "backoff" || now - this.laptopDownSince < DIAGNOSE_AFTER_MS) return;
    if (this.probing || now - this.lastProbeAt < DIAGNOSE_EVERY_MS) return;
    void this.investigate(now);
  }

  private async investigate(now: number): Promise<void> {
    const pairing = this.pairing;
    if (!pairing) return;
    this.probing = true;
    this.lastProbeAt = now;
    try {
      const page = laptopPageUrl(pairing.laptopUrl);
      const pairingRefused = this.relay?.stats.laptop.lastClose.startsWith("PAIRING_FAILED") ?? false;
      const [probe, localNetwork] = pairingRefused
        ? (["answered", "granted"] as const)
        : await Promise.all([probeLaptop(page), localNetworkPermission()]);
      if (this.relay?.stats.laptop.state === "open" || pairing !== this.pairing) return;
      this.diagnosis = diagnose({
        laptop: new URL(page).host,
        probe,
        localNetwork,
        connectedBefore: pairing.connectedAt !== undefined,
        online: navigator.onLine,
        ios: isIos(navigator.userAgent, navigator.maxTouchPoints),
        pairingRefused,
      });
      this.chrome();
    } finally {
      this.probing = false;
    }
  }

  // ── drawing ─────────────────────────────────────────────────────────────────────────────────

  /** At most one draw per frame, and none while hidden. */
  private draw(): void {
    if (this.drawPending || document.visibilityState !== "visible") return;
    this.drawPending = true;
    requestAnimationFrame(() => {
      this.drawPending = false;
      this.drawNow();
    });
  }

  private drawNow(): void {
    const now = Date.now();
    const relay = this.relay;
    const presentation = present({
      role: this.pairing ? this.role : "unpaired",
      stats: relay?.sample(),
      // No relay, nothing moves: the last window's rates are not "now".
      rates: relay ? this.meter.rates() : { up: 0, down: 0, upPackets: 0, downPackets: 0 },
      usage: this.recorder.totals(),
      capBytes: this.capBytes,
      sessionRenewed: this.sessionRenewed,
      asking: this.pending !== undefined,
      now,
    });
    this.view.draw(presentation, this.meter.history(), now);
  }

  /** Everything around the stats: pairings, trust help, toggles and notes. */
  private chrome(): void {
    const pairing = this.pairing;
    this.view.pairings(this.pairings, pairing?.id);
    const page = pairing ? laptopPageUrl(pairing.laptopUrl) : "";
    this.view.trust(this.diagnosis, { page, profile: page ? new URL(PROFILE_PATH, page).href : "" });
    this.view.wake(this.wakeEnabled, this.wake.note());
    this.view.notifications(this.notifier.permission === "default", this.notifier.note());
    this.view.update(this.updates.ready, this.updates.note());
    this.view.storage(this.storageNote);
    this.view.capInput(this.capBytes ? `${this.capBytes / 1e9} GB` : "");
    this.view.selfTest({ cost: selfTestCost(), ...this.test });
    this.draw();
  }

  // ── the user's actions ──────────────────────────────────────────────────────────────────────

  private async remember(pairing: Pairing): Promise<StoredPairing> {
    const { list, stored, forgotten } = rememberPairing(this.pairings, pairing, exitTunnelUrl(), Date.now());
    this.pairings = list;
    await Promise.all([
      this.storage.putPairing(stored),
      this.storage.setSetting("chosenPairing", stored.id),
      ...forgotten.map((p) => this.storage.deletePairing(p.id)),
    ]).catch(() => undefined);
    return stored;
  }

  private async setPaused(paused: boolean): Promise<void> {
    this.paused = paused;
    await this.storage.setSetting("paused", paused).catch(() => undefined);
  }

  /** Relay for `pairing` from this tab from now on (taking the relay from another tab). */
  private switchTo(pairing: StoredPairing | undefined): void {
    this.stopRelay();
    // Pairing or choosing a laptop is asking to relay for it: it ends a pause.
    void this.setPaused(false);
    this.pairing = pairing;
    this.diagnosis = undefined;
    if (!pairing) this.setRole("unpaired");
    else if (this.single.held) this.startRelay(pairing);
    else this.single.claim(true);
    this.chrome();
  }

  /** Holds a link for a laptop not seen before until the user answers (confirmPairing). */
  private ask(pairing: Pairing, confirmation: Confirmation): void {
    this.pending = { pairing, confirmation, step: "new" };
    this.view.confirm(confirmView(pairing.laptopUrl, exitTunnelUrl(), "new"));
    this.draw();
  }

  readonly actions = {
    pair: async (link: string): Promise<string | undefined> => {
      try {
        const pairing = parsePairingLink(link);
        const confirmation = confirmationFor(pairing, this.pairings, exitTunnelUrl());
        if (confirmation === "none") this.switchTo(await this.remember(pairing));
        else this.ask(pairing, confirmation);
        return undefined;
      } catch (error) {
        return error instanceof PairingError ? error.message : String(error);
      }
    },
    choose: (id: string): void => {
      const pairing = this.pairings.find((p) => p.id === id);
      if (!pairing || pairing.id === this.pairing?.id) return;
      pairing.lastUsedAt = Date.now();
      void this.storage.putPairing(pairing).catch(() => undefined);
      void this.storage.setSetting("chosenPairing", id).catch(() => undefined);
      this.switchTo(pairing);
    },
    forget: (id: string): void => {
      this.pairings = this.pairings.filter((p) => p.id !== id);
      void this.storage.deletePairing(id).catch(() => undefined);
      if (this.pairing?.id === id) this.switchTo(chosenPairing(this.pairings, undefined));
      else this.chrome();
    },
    setCap: async (text: string): Promise<string | undefined> => {
      const cap = text.trim() === "" ? undefined : parseCap(text);
      if (text.trim() !== "" && cap === undefined)
        return "Type a size such as 5 GB or 500 MB (empty for no cap).";
      this.capBytes = cap;
      await this.storage.setSetting("capBytes", cap).catch(() => undefined);
      this.chrome();
      return undefined;
    },
    resetUsage: (): void => {
      void this.recorder.reset().then(() => this.draw());
    },
    setWakeLock: (on: boolean): void => {
      this.wakeEnabled = on;
      this.wake.setEnabled(on);
      void this.storage.setSetting("wakeLock", on).catch(() => undefined);
      this.chrome();
    },
    enableNotifications: (): void => {
      void this.notifier.enable();
    },
    updateNow: (): void => this.updates.applyNow(),
    confirmPairing: async (yes: boolean): Promise<void> => {
      const pending = this.pending;
      if (!pending) return;
      if (yes && pending.confirmation === "new-elsewhere" && pending.step === "new") {
        pending.step = "elsewhere";
        this.view.confirm(confirmView(pending.pairing.laptopUrl, exitTunnelUrl(), "elsewhere"));
        return;
      }
      this.pending = undefined;
      this.view.confirm(undefined);
      if (yes) this.switchTo(await this.remember(pending.pairing));
      else this.draw();
    },
    scan: (): void => {
      const events = {
        text: (text: string): boolean => {
          try {
            parsePairingLink(text);
          } catch {
            this.view.scanStatus("That QR code is not a Tether pairing link: scan the one tether prints.");
            return false;
          }
          this.view.scanStatus("Pairing link read.");
          void this.actions.pair(text).then((error) => {
            if (error) this.view.pairError(error);
          });
          return true;
        },
        status: (message: string) => this.view.scanStatus(message),
        stream: (stream: MediaStream | undefined) => this.view.scanStream(stream),
      };
      void this.scanner.start(this.view.scanVideo, events);
    },
    stopScan: (): void => {
      this.scanner.stop({ stream: (stream) => this.view.scanStream(stream) });
      this.view.scanStatus("");
    },
    selfTest: (): void => {
      if (this.test.running) return;
      this.test = { running: true, status: "Starting…", report: "" };
      this.chrome();
      const progress = (status: string) => {
        this.test.status = status;
        this.chrome();
      };
      void runSelfTest(
        {
          relay: () => this.relay,
          notifications: () => notificationWords(this.notifier.permission),
          lastHidden: () => this.lastHidden,
        },
        progress,
      )
        .then((findings) => {
          this.test = {
            running: false,
            status: "Done: the report is below.",
            report: selfTestReport(findings),
          };
        })
        .catch((error: unknown) => {
          this.test = {
            running: false,
            status: `The self-test failed: ${(error as Error).message}`,
            report: "",
          };
        })
        .finally(() => this.chrome());
    },
    copyReport: (): void => {
      void navigator.clipboard
        ?.writeText(this.test.report)
        .then(() => "Report copied: paste it where you want to share it.")
        .catch(() => "This browser did not let the app copy: select the report's text and copy it.")
        .then((status) => {
          this.test.status = status;
          this.chrome();
        });
    },
    togglePause: (): void => {
      if (this.role === "paused") {
        void this.setPaused(false);
        if (this.pairing && this.single.held) this.startRelay(this.pairing);
        else if (this.pairing) this.single.claim(true);
      } else if (this.role === "relay") {
        void this.setPaused(true);
        this.stopRelay("pause");
        this.setRole("paused");
      }
    },
    relayHere: (): void => {
      if (this.pairing) this.single.claim(true);
    },
    gesture: (): void => {
      void this.askPersistence();
    },
  };

  /** Asked once, after a tap (browsers grant it more readily then): keep our data when space is low. */
  private async askPersistence(): Promise<void> {
    if (this.persistAsked || !navigator.storage?.persist) return;
    this.persistAsked = true;
    const granted = await navigator.storage.persist().catch(() => false);
    await this.storage.setSetting("persisted", granted).catch(() => undefined);
    this.storageNote = persistenceNote(granted);
    this.chrome();
  }
}

function notificationWords(permission: NotificationPermission | "unsupported"): string {
  switch (permission) {
    case "granted":
      return "allowed";
    case "denied":
      return "blocked for this site";
    case "default":
      return "not asked yet (This phone › Notify me)";
    default:
      return "not supported here (on iPhone: add Tether to the home screen first)";
  }
}

function persistenceNote(granted: boolean): string {
  return granted
    ? "Kept for good: the browser will not clear Tether's pairings and counters to free space."
    : "The browser did not promise to keep Tether's data: it may clear pairings and counters if space runs low.";
}

function exitTunnelUrl(): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/tunnel`;
}

/** The service worker's registration once it is active (the notifications' owner). */
async function serviceWorkerRegistration(): Promise<ServiceWorkerRegistration | undefined> {
  if (!("serviceWorker" in navigator)) return undefined;
  return navigator.serviceWorker.ready;
}
