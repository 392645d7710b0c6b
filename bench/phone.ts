// The phone for the bench: Debian's headless Chromium in the phone's namespace, opened on one URL,
// with no automation attached while it relays.
//
// Why not Playwright, as the e2e tests use: Playwright enables the DevTools Network domain on every
// page, and then Chromium reports every WebSocket frame, payload included (base64 for binary), to
// the automation client. On this relay that is a copy and an encoding of every byte in the browser
// and renderer processes plus a pipe to Node: it cut the measured goodput to a third and kept the
// browser process half a core busy. A phone has no such client, so the bench has none either.
//
// What automation gave is done with flags instead: the certificates the user trusted
// (--ignore-certificate-errors-spki-list, as chain.ts does) and Chrome's local-network-access
// permission (--disable-features=LocalNetworkAccessChecks: the user's "allow"). For the rare read
// of the relay's counters, a short DevTools session is opened from inside the namespace
// (Runtime.evaluate only, no domain enabled) and closed again, outside every timed window.
import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../e2e/chain.js";
import { CHROMIUM_PATH, PHONE_BROWSER_ARGS } from "../e2e/chromium-netns.js";
import type { Topology } from "../e2e/topology.js";

/** How long Chromium may take to start and write its DevTools port, ms. */
const LAUNCH_TIMEOUT_MS = 30_000;
/** One DevTools evaluation at most (Node start-up inside the namespace included), ms. */
const EVALUATE_TIMEOUT_MS = 15_000;

// Plain CommonJS for `node -e` (no tsx start-up): finds the page whose URL starts with the prefix,
// evaluates the expression in it and prints the value as JSON. No domain is enabled.
const EVALUATE_SCRIPT = `
const WebSocket = require("ws");
const [port, prefix, expression] = process.argv.slice(1);
(async () => {
  const list = await (await fetch("http://127.0.0.1:" + port + "/json/list")).json();
  const target = list.find((t) => t.type === "page" && t.url.startsWith(prefix));
  if (!target) { process.stdout.write("null"); process.exit(0); }
  const ws = new WebSocket(target.webSocketDebuggerUrl, { perMessageDeflate: false });
  ws.on("open", () => ws.send(JSON.stringify({ id: 1, method: "Runtime.evaluate",
    params: { expression, returnByValue: true, awaitPromise: true } })));
  ws.on("message", (data) => {
    const reply = JSON.parse(String(data));
    if (reply.id !== 1) return;
    const value = reply.result && reply.result.result ? reply.result.result.value : undefined;
    process.stdout.write(JSON.stringify(value === undefined ? null : value));
    ws.close();
    process.exit(0);
  });
  ws.on("error", (e) => { process.stderr.write(String(e)); process.exit(1); });
})().catch((e) => { process.stderr.write(String(e)); process.exit(1); });
`;

/** Between two looks for the pairing question while a chain comes up, ms. */
const CONFIRM_POLL_MS = 250;
const CONFIRM_PAIRING_EXPRESSION = `(() => {
  if (document.body && document.body.dataset.relaying === "true") return "relaying";
  const yes = document.getElementById("pair-confirm-yes");
  if (yes === null || yes.closest("[hidden]") !== null || yes.disabled) return "waiting";
  yes.click();
  return "clicked";
})()`;

export class BarePhone {
  private constructor(
    private readonly topology: Topology,
    readonly process: ChildProcess,
    readonly url: string,
    private readonly port: number,
  ) {}

  /** Starts Chromium in the phone's namespace on `url`, trusting the certificates with these SPKI hashes. */
  static async launch(topology: Topology, url: string, trustedSpki: readonly string[]): Promise<BarePhone> {
    const profile = topology.tempDir("phoneprofile");
    const child = topology.spawn(
      "phone",
      [
        CHROMIUM_PATH,
        "--headless",
        ...PHONE_BROWSER_ARGS,
        `--user-data-dir=${profile}`,
        `--ignore-certificate-errors-spki-list=${trustedSpki.join(",")}`,
        "--disable-features=LocalNetworkAccessChecks",
        "--remote-debugging-port=0",
        url,
      ],
      // Chromium keeps a few things outside the profile (crash reports, caches): into the temp dir too.
      {
        env: {
          ...process.env,
          XDG_CONFIG_HOME: join(profile, "xdg"),
          XDG_CACHE_HOME: join(profile, "cache"),
        },
      },
    );
    const portFile = join(profile, "DevToolsActivePort");
    const deadline = Date.now() + LAUNCH_TIMEOUT_MS;
    while (!existsSync(portFile) || readFileSync(portFile, "utf8").trim() === "") {
      if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
        await topology.kill(child);
        throw new Error(`Chromium did not start on ${url}:\n${topology.logTail(child).slice(-3000)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const port = Number(readFileSync(portFile, "utf8").split("\n")[0]);
    return new BarePhone(topology, child, url, port);
  }

  /** Evaluates an expression in the page (a short DevTools session); undefined if that failed. */
  async evaluate<T>(expression: string): Promise<T | undefined> {
    const origin = new URL(this.url).origin;
    const { stdout, code } = await this.topology.exec(
      "phone",
      [process.execPath, "-e", EVALUATE_SCRIPT, String(this.port), origin, expression],
      { timeoutMs: EVALUATE_TIMEOUT_MS, cwd: ROOT },
    );
    if (code !== 0) return undefined;
    try {
      return (JSON.parse(stdout) as T | null) ?? undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Says yes when the app asks about a laptop it has never seen (#pair-confirm), as the user who
   * opened the link would (a JS click needs no user activation). Polls during setup only: ends at
   * the click, once the page relays, once `done()` holds, or after timeoutMs. Returns whether it
   * clicked.
   */
  async confirmPairing(timeoutMs: number, done: () => boolean): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!done() && Date.now() < deadline) {
      const state = await this.evaluate<string>(CONFIRM_PAIRING_EXPRESSION);
      if (state === "clicked") return true;
      if (state === "relaying") return false;
      await new Promise((resolve) => setTimeout(resolve, CONFIRM_POLL_MS));
    }
    return false;
  }

  async stop(): Promise<void> {
    await this.topology.kill(this.process);
  }
}
