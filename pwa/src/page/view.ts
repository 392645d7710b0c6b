// The only module that writes to the DOM. It puts in place the strings present() worked out, draws
// the chart, and turns the user's taps into calls on the app's actions. It reads nothing from the
// relay itself and decides nothing.
import type { Diagnosis } from "../shared/diagnose.js";
import { pairingLabel, type StoredPairing } from "../shared/pairings.js";
import type { ConfirmView, Presentation } from "../shared/present.js";
import type { ChartPoint } from "../shared/rates.js";
import { type ChartColors, describeChart, drawChart } from "./chart.js";

export interface Actions {
  /** A pasted pairing link; resolves to an error message, or undefined when paired. */
  pair(link: string): Promise<string | undefined>;
  choose(id: string): void;
  forget(id: string): void;
  /** A typed cap; resolves to an error message, or undefined when set. */
  setCap(text: string): Promise<string | undefined>;
  resetUsage(): void;
  setWakeLock(on: boolean): void;
  enableNotifications(): void;
  updateNow(): void;
  relayHere(): void;
  /** The first screen's control: pause while relaying, resume while paused. */
  togglePause(): void;
  /** The answer to "relay for a new laptop?" (and to "it is not beside you", when asked). */
  confirmPairing(yes: boolean): void | Promise<void>;
  /** Start the camera and look for the laptop's QR code; stopScan turns it off. */
  scan(): void;
  stopScan(): void;
  /** Run the self-test; copyReport puts its report on the clipboard. */
  selfTest(): void;
  copyReport(): void;
  /** Any tap or key on a control: the moment a browser lets the app ask for things. */
  gesture(): void;
}

function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`index.html lacks #${id}`);
  return element as T;
}

function text(id: string, value: string): void {
  const element = byId(id);
  if (element.textContent !== value) element.textContent = value;
}

function show(id: string, visible: boolean): void {
  const element = byId(id);
  if (element.hidden === visible) element.hidden = !visible;
}

export class View {
  private readonly canvas = byId<HTMLCanvasElement>("chart");
  private colors: ChartColors | undefined;
  private dropReasons = "";
  /** The laptops fold was opened by the app (no pairing yet), not by the user. */
  private pairingsOpenedForUser = false;

  /** Turns the user's taps into the app's actions (once). */
  bind(actions: Actions): void {
    document.addEventListener("click", () => actions.gesture(), { capture: true });
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
      this.colors = undefined;
    });
    byId("pair-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = byId<HTMLInputElement>("pair-input");
      const error = await actions.pair(input.value);
      text("pair-error", error ?? "");
      if (!error) input.value = "";
    });
    byId("cap-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      text("cap-error", (await actions.setCap(byId<HTMLInputElement>("cap-input").value)) ?? "");
    });
    byId("usage-reset").addEventListener("click", () => {
      if (confirm("Reset today's and this month's data counters to zero?")) actions.resetUsage();
    });
    byId<HTMLInputElement>("wake-toggle").addEventListener("change", (event) =>
      actions.setWakeLock((event.target as HTMLInputElement).checked),
    );
    byId("notify-enable").addEventListener("click", () => actions.enableNotifications());
    byId("update-now").addEventListener("click", () => actions.updateNow());
    byId("relay-here").addEventListener("click", () => actions.relayHere());
    byId("pause-toggle").addEventListener("click", () => actions.togglePause());
    byId("scan-start").addEventListener("click", () => actions.scan());
    byId("selftest-start").addEventListener("click", () => actions.selfTest());
    byId("selftest-copy").addEventListener("click", () => actions.copyReport());
    byId("scan-stop").addEventListener("click", () => actions.stopScan());
    byId("scanner").addEventListener("keydown", (event) => {
      if (event.key === "Escape") actions.stopScan();
    });
    byId("pair-confirm-yes").addEventListener("click", () => actions.confirmPairing(true));
    byId("pair-confirm-no").addEventListener("click", () => actions.confirmPairing(false));
    byId("pairings").addEventListener("change", (event) => {
      const target = event.target as HTMLInputElement;
      if (target.name === "pairing") actions.choose(target.value);
    });
    byId("pairings").addEventListener("click", (event) => {
      const target = event.target as HTMLElement;
      const id = target.dataset.forget;
      if (id !== undefined && confirm("Forget this laptop? Pair again with its link.")) actions.forget(id);
    });
  }

  /** The whole stats view; the caller draws only while the page is visible. */
  draw(p: Presentation, chart: readonly ChartPoint[], now: number): void {
    const body = document.body;
    if (body.dataset.tone !== p.tone) body.dataset.tone = p.tone;
    text("message", p.headline);
    text("detail", p.detail);
    for (const name of ["laptop", "exit"] as const) {
      const leg = p.legs[name];
      text(`${name}-state`, leg.state);
      text(`rtt-${name}`, leg.rtt);
      text(`${name}-encoding`, leg.encoding);
      text(`${name}-queued`, leg.queued);
      text(`${name}-reconnects`, leg.reconnects);
      text(`${name}-close`, leg.lastClose);
    }
    text("rtt-e2e", p.endToEndRtt);
    text("session", p.session);
    text("address", p.address);
    text("uptime", p.uptime);
    text("rate-up", p.rateUp);
    text("rate-down", p.rateDown);
    text("pps-up", p.packetsUp);
    text("pps-down", p.packetsDown);
    text("bytes-up", p.bytesUp);
    text("bytes-down", p.bytesDown);
    byId("bytes-up").dataset.bytes = String(p.bytesUpCount);
    byId("bytes-down").dataset.bytes = String(p.bytesDownCount);
    this.control(p.control);
    this.drops(p.drops);
    this.usage(p);
    this.chart(chart, now);
  }

  private control(control: Presentation["control"]): void {
    const button = byId("pause-toggle");
    const visible = control.state !== "hidden";
    show("pause-toggle", visible);
    show("pause-hint", visible);
    if (button.dataset.state !== control.state) button.dataset.state = control.state;
    if (document.body.dataset.paused !== String(control.state === "paused"))
      document.body.dataset.paused = String(control.state === "paused");
    text("pause-toggle", control.label);
    text("pause-hint", control.hint);
  }

  private drops(drops: Presentation["drops"]): void {
    const list = byId("drops");
    const reasons = drops.map((d) => d.reason).join(",");
    if (reasons !== this.dropReasons) {
      this.dropReasons = reasons;
      list.replaceChildren(
        ...drops.flatMap((d) => {
          const dt = document.createElement("dt");
          dt.textContent = d.label;
          const dd = document.createElement("dd");
          dd.id = `drop-${d.reason}`;
          return [dt, dd];
        }),
      );
    }
    for (const d of drops) text(`drop-${d.reason}`, String(d.count));
  }

  private usage(p: Presentation): void {
    const today = byId("usage-today");
    const month = byId("usage-month");
    text("usage-today", p.today);
    text("usage-month", p.thisMonth);
    // Exact counts for tests and the curious (the text is rounded).
    today.dataset.bytes = String(p.todayBytes);
    month.dataset.bytes = String(p.monthBytes);
    text("cap-text", p.cap.text);
    const meter = byId<HTMLMeterElement>("cap-meter");
    show("cap-meter", p.cap.fraction !== undefined);
    if (p.cap.fraction !== undefined) meter.value = Math.min(1, p.cap.fraction);
    text("notice-cap", p.cap.warning);
    show("notice-cap", p.cap.warning !== "");
  }

  private chart(points: readonly ChartPoint[], now: number): void {
    const canvas = this.canvas;
    const scale = devicePixelRatio || 1;
    const width = Math.round(canvas.clientWidth * scale);
    const height = Math.round(canvas.clientHeight * scale);
    if (width === 0 || height === 0) return;
    if (canvas.width !== width) canvas.width = width;
    if (canvas.height !== height) canvas.height = height;
    const ctx = canvas.getContext("2d");
    if (!ctx) return;
    this.colors ??= chartColors();
    drawChart(ctx, width, height, scale, points, now, this.colors);
    const label = describeChart(points);
    if (canvas.getAttribute("aria-label") !== label) canvas.setAttribute("aria-label", label);
  }

  /** The app could not start at all. */
  fatal(message: string): void {
    document.body.dataset.tone = "problem";
    text("message", `Tether could not start: ${message}`);
  }

  relaying(relaying: boolean): void {
    const value = String(relaying);
    if (document.body.dataset.relaying !== value) document.body.dataset.relaying = value;
  }

  pairings(list: readonly StoredPairing[], chosenId: string | undefined): void {
    const items = list.map((pairing) => {
      const li = document.createElement("li");
      const radio = document.createElement("input");
      radio.type = "radio";
      radio.name = "pairing";
      radio.value = pairing.id;
      radio.id = `pairing-${list.indexOf(pairing)}`;
      radio.checked = pairing.id === chosenId;
      const label = document.createElement("label");
      label.htmlFor = radio.id;
      label.textContent = `${pairingLabel(pairing, location.host)}${pairing.id === chosenId ? " (in use)" : ""}`;
      const forget = document.createElement("button");
      forget.type = "button";
      forget.className = "secondary";
      forget.dataset.forget = pairing.id;
      forget.textContent = "Forget";
      forget.setAttribute("aria-label", `Forget ${pairingLabel(pairing, location.host)}`);
      li.append(radio, label, forget);
      return li;
    });
    if (items.length === 0) {
      const li = document.createElement("li");
      li.textContent = "No laptop paired yet.";
      items.push(li);
    }
    // Nothing to relay for: pairing is what there is to do, so it is not folded away; folded again
    // once a laptop is paired (unless the user opened it).
    const details = byId<HTMLDetailsElement>("pairings-details");
    if (list.length === 0 && !details.open) {
      details.open = true;
      this.pairingsOpenedForUser = true;
    } else if (list.length > 0 && this.pairingsOpenedForUser) {
      details.open = false;
      this.pairingsOpenedForUser = false;
    }
    byId("pairings").replaceChildren(...items);
  }

  /** The question about a new laptop, or none; the focus moves to it when it appears or changes. */
  confirm(question: ConfirmView | undefined): void {
    const wasShown = !byId("pair-confirm").hidden;
    const before = byId("pair-confirm-title").textContent;
    show("pair-confirm", question !== undefined);
    if (!question) return;
    text("pair-confirm-title", question.title);
    text("pair-confirm-body", question.body);
    text("pair-confirm-yes", question.yes);
    text("pair-confirm-no", question.no);
    if (!wasShown || before !== question.title) byId("pair-confirm-title").focus();
  }

  /** Where the scanner reads frames from. */
  get scanVideo(): HTMLVideoElement {
    return byId<HTMLVideoElement>("scan-video");
  }

  /** The camera's picture while scanning; the focus goes to "Stop scanning" when it starts. */
  scanStream(stream: MediaStream | undefined): void {
    const video = this.scanVideo;
    show("scanner", stream !== undefined);
    show("scan-start", stream === undefined);
    video.srcObject = stream ?? null;
    if (stream) {
      void video.play().catch(() => undefined);
      byId("scan-stop").focus();
    }
  }

  scanStatus(message: string): void {
    text("scan-status", message);
  }

  /** The self-test: its cost (said first), its progress, and its report once done. */
  selfTest(state: { cost: string; running: boolean; status: string; report: string }): void {
    text("selftest-cost", state.cost);
    const start = byId<HTMLButtonElement>("selftest-start");
    if (start.disabled !== state.running) start.disabled = state.running;
    text("selftest-status", state.status);
    text("selftest-report", state.report);
    show("selftest-report", state.report !== "");
    show("selftest-copy", state.report !== "");
  }

  pairError(message: string): void {
    text("pair-error", message);
  }

  trust(diagnosis: Diagnosis | undefined, links: { page: string; profile: string }): void {
    show("trust", diagnosis !== undefined);
    if (!diagnosis) return;
    text("trust-cause", diagnosis.title);
    const steps = byId("trust-steps");
    const joined = diagnosis.steps.join("\n");
    if (steps.dataset.steps !== joined) {
      steps.dataset.steps = joined;
      steps.replaceChildren(
        ...diagnosis.steps.map((step) => {
          const li = document.createElement("li");
          li.textContent = step;
          return li;
        }),
      );
    }
    const open = byId<HTMLAnchorElement>("trust-open");
    const profile = byId<HTMLAnchorElement>("trust-profile");
    if (open.href !== links.page) open.href = links.page;
    if (profile.href !== links.profile) profile.href = links.profile;
    show("trust-open", diagnosis.trustButton);
    show("trust-profile", diagnosis.profileButton);
  }

  wake(enabled: boolean, note: string): void {
    const toggle = byId<HTMLInputElement>("wake-toggle");
    if (toggle.checked !== enabled) toggle.checked = enabled;
    text("wake-note", note);
  }

  notifications(offer: boolean, note: string): void {
    show("notify-enable", offer);
    text("notify-note", note);
  }

  storage(note: string): void {
    text("storage-note", note);
  }

  update(ready: boolean, when: string): void {
    show("notice-update", ready);
    text("update-when", when);
  }

  otherTab(visible: boolean): void {
    show("notice-other-tab", visible);
  }

  capInput(value: string): void {
    const input = byId<HTMLInputElement>("cap-input");
    if (document.activeElement !== input && input.value !== value) input.value = value;
  }
}

function chartColors(): ChartColors {
  const style = getComputedStyle(document.documentElement);
  const read = (name: string) => style.getPropertyValue(name).trim();
  return { up: read("--up"), down: read("--down"), grid: read("--line"), text: read("--muted") };
}
