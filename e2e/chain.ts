// Starts the real Tether in a topology: the built exit in the exit namespace, the built `tether`
// CLI in the laptop namespace, and the built PWA in Debian's Chromium in the phone namespace,
// opened from the pairing link the laptop printed. Used by the e2e tests, the demo and the bench.

import type { ChildProcess } from "node:child_process";
import { copyFileSync, existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { METRICS_LISTEN_DEFAULT } from "../exit/metrics-server.js";
import { loadOrCreateCertificate } from "../laptop/certificate.js";
import { launchPhoneBrowser } from "./chromium-netns.js";
import { waitForRelaying } from "./page-wait.js";
import type { Topology } from "./topology.js";

export const ROOT = resolve(import.meta.dirname, "..");
export const EXIT_CLI = join(ROOT, "dist/node/exit/cli.js");
export const LAPTOP_CLI = join(ROOT, "dist/node/laptop/cli.js");
export const EXIT_PORT = 8443;
export const LAPTOP_PORT = 7443;
export const EXIT_TUN = "tether-exit0";
export const LAPTOP_TUN = "tether0";
/** How long any one step of bringing the chain up may take, ms. */
const STEP_TIMEOUT_MS = 30_000;

export class ChainError extends Error {
  override name = "ChainError";
}

/** Everything each spawned process printed, from its start (kept bounded by process lifetime). */
const outputs = new WeakMap<ChildProcess, { text: string }>();

/** Starts collecting a process's output, so waits can look at what it printed before they began. */
export function recordOutput(child: ChildProcess): ChildProcess {
  const output = { text: "" };
  outputs.set(child, output);
  const append = (chunk: Buffer) => {
    output.text += chunk.toString();
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  return child;
}

export function outputOf(child: ChildProcess): string {
  return outputs.get(child)?.text ?? "";
}

/** Waits until a spawned process has printed something matching `pattern` (from its start); fails if it exits first. */
export function waitForOutput(
  child: ChildProcess,
  pattern: RegExp,
  what: string,
  timeoutMs = STEP_TIMEOUT_MS,
): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const match = outputOf(child).match(pattern);
      if (match) finish(() => resolve(match));
      return Boolean(match);
    };
    const onExit = (code: number | null) => {
      if (!check())
        finish(() =>
          reject(new ChainError(`${what}: process exited (${code}) first. It printed:\n${outputOf(child)}`)),
        );
    };
    const timer = setTimeout(
      () =>
        finish(() =>
          reject(new ChainError(`${what}: not seen in ${timeoutMs} ms. Output:\n${outputOf(child)}`)),
        ),
      timeoutMs,
    );
    const finish = (settle: () => void) => {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.stderr?.off("data", onData);
      child.off("exit", onExit);
      settle();
    };
    const onData = () => queueMicrotask(check);
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", onExit);
    check();
  });
}

export function exitedCode(child: ChildProcess, timeoutMs = STEP_TIMEOUT_MS): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new ChainError(`process ${child.pid} did not exit in ${timeoutMs} ms`)),
      timeoutMs,
    );
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

export interface Exit {
  process: ChildProcess;
  origin: string;
  keysFile: string;
  spkiSha256: string;
  /** Adds a client key at the exit (as an operator would) and returns NAME:SECRET. */
  addKey(name: string): Promise<string>;
  /** GETs a path of the exit from inside the exit namespace. */
  get(path: string): Promise<string>;
}

export function requireBuild(): void {
  for (const file of [EXIT_CLI, LAPTOP_CLI, join(ROOT, "dist/pwa/index.html")]) {
    if (!existsSync(file)) throw new ChainError(`${file} is missing: run \`npm run build\` first`);
  }
}

/** How the two commands are started: the checkout's build by default, or an installed package's. */
export interface Commands {
  /** argv prefix that runs `tether-exit`. */
  exit: readonly string[];
  /** argv prefix that runs `tether`. */
  laptop: readonly string[];
}

export const BUILT_COMMANDS: Commands = { exit: ["node", EXIT_CLI], laptop: ["node", LAPTOP_CLI] };

/** Starts the exit; with `restartOf`, a new exit process with that one's keys and certificate. */
export async function startExit(
  topology: Topology,
  extraArgs: string[] = [],
  restartOf?: Exit,
  commands: Commands = BUILT_COMMANDS,
): Promise<Exit> {
  if (commands === BUILT_COMMANDS) requireBuild();
  const dir = restartOf ? dirname(restartOf.keysFile) : topology.tempDir("exit");
  const address = topology.addr.carrier.exit;
  const certificate = await loadOrCreateCertificate(dir, [address], "exit");
  return launchExit(topology, {
    dir,
    commands,
    front: [
      "--listen",
      `${address}:${EXIT_PORT}`,
      "--cert",
      join(dir, "exit-cert.pem"),
      "--tls-key",
      join(dir, "exit-key.pem"),
    ],
    origin: `https://${address}:${EXIT_PORT}`,
    spkiSha256: certificate.spkiSha256,
    extraArgs,
  });
}

export interface ExitLaunch {
  /** Where its keys file is (and its certificate, if it has one). */
  dir: string;
  commands: Commands;
  /** How it faces phones and laptops: its --listen, and --cert/--tls-key or --trusted-proxy. */
  front: readonly string[];
  /** What laptops and phones are given: its own https origin, or a proxy's in front of it. */
  origin: string;
  spkiSha256: string;
  extraArgs: readonly string[];
}

/** Spawns `tether-exit` in the exit namespace, NATing to the internet namespace; resolves once it listens. */
export async function launchExit(topology: Topology, launch: ExitLaunch): Promise<Exit> {
  const { commands, origin } = launch;
  const keysFile = join(launch.dir, "keys.json");
  const process = recordOutput(
    topology.spawn("exit", [
      ...commands.exit,
      ...launch.front,
      "--keys-file",
      keysFile,
      "--dns",
      topology.addr.egress.internet,
      "--egress",
      topology.ifname.exit.egress,
      "--tun-name",
      EXIT_TUN,
      // The topology's internet is a documentation range, which the egress guard refuses by default.
      "--allow-egress",
      topology.addr.egress.subnet,
      ...launch.extraArgs,
    ]),
  );
  await waitForOutput(process, /exit listening/, "the exit to listen");
  return {
    process,
    origin,
    keysFile,
    spkiSha256: launch.spkiSha256,
    async addKey(name) {
      const result = await topology.exec(
        "exit",
        [...commands.exit, "keys", "add", name, "--keys-file", keysFile],
        { check: true },
      );
      const key = result.stdout.match(/^\s+(\S+:\S+)$/m)?.[1];
      if (!key) throw new ChainError(`no key in the output of keys add:\n${result.stdout}`);
      return key;
    },
    async get(path) {
      // /metrics has a listener of its own, this machine's only (--metrics-listen's default); the
      // rest goes where phones go (through the proxy, if there is one).
      const base = path.startsWith("/metrics")
        ? `http://${METRICS_LISTEN_DEFAULT.host}:${METRICS_LISTEN_DEFAULT.port}`
        : origin;
      const result = await topology.exec(
        "exit",
        ["curl", "-sS", "--max-time", "10", "-k", `${base}${path}`],
        {
          check: true,
        },
      );
      return result.stdout;
    },
  };
}

export interface Laptop {
  process: ChildProcess;
  link: string;
  spkiSha256: string;
  configDir: string;
}

export async function startLaptop(
  topology: Topology,
  exit: Exit,
  key: string,
  options: {
    port?: number;
    tunName?: string;
    label?: string;
    sameCertificateAs?: Laptop;
    commands?: Commands;
    /** Added to the laptop's environment (SUDO_UID, as `sudo tether` would have it). */
    env?: NodeJS.ProcessEnv;
  } = {},
): Promise<Laptop> {
  const configDir = topology.tempDir(options.label ?? "laptop");
  if (options.sameCertificateAs) {
    // A second laptop the phone already trusts, without sharing the first one's state.
    for (const file of ["laptop-cert.pem", "laptop-key.pem"]) {
      copyFileSync(join(options.sameCertificateAs.configDir, file), join(configDir, file));
    }
  }
  const process = recordOutput(
    topology.spawn(
      "laptop",
      [
        ...(options.commands ?? BUILT_COMMANDS).laptop,
        "--exit",
        exit.origin.replace(/^https:/, "wss:"),
        "--key",
        key,
        "--port",
        String(options.port ?? LAPTOP_PORT),
        "--tun-name",
        options.tunName ?? LAPTOP_TUN,
        "--config-dir",
        configDir,
      ],
      options.env ? { env: { ...globalThis.process.env, ...options.env } } : {},
    ),
  );
  const match = await waitForOutput(process, /^\s+(https:\/\/\S+#\S+)$/m, "the pairing link");
  const link = match[1]!;
  const spkiSha256 = new URLSearchParams(link.slice(link.indexOf("#") + 1)).get("fp") ?? "";
  return { process, link, spkiSha256, configDir };
}

/**
 * Runs in the page before its own scripts: clicks #pair-confirm-yes whenever it is shown (not
 * inside [hidden]), as the user who opened the link would. A JS click needs no user activation.
 */
export const CONFIRM_PAIRING_SCRIPT = `let tetherQuestionShown = false;
new MutationObserver(() => {
  const yes = document.getElementById("pair-confirm-yes");
  const shown = yes !== null && yes.closest("[hidden]") === null && !yes.disabled;
  if (shown && !tetherQuestionShown) yes.click();
  tetherQuestionShown = shown;
}).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["hidden"] });`;

export interface Phone {
  context: BrowserContext;
  /**
   * Opens a pairing link in a new tab and waits until that tab relays. The user says yes when the
   * app asks about a laptop it has never seen (#pair-confirm), unless confirmPairing is false.
   */
  open(link: string, options?: { waitForRelay?: boolean; confirmPairing?: boolean }): Promise<Page>;
}

/**
 * The phone opens the laptop's pairing link and relays until the laptop says it is connected:
 * how every e2e file brings its chain up.
 */
export async function pairPhone(
  topology: Topology,
  exit: Exit,
  laptop: Laptop,
): Promise<{ phone: Phone; page: Page }> {
  const phone = await startPhone(topology, exit, laptop);
  const page = await phone.open(laptop.link);
  await waitForOutput(laptop.process, /tether: connected \(address 10\.77\.0\.\d+/, "the laptop to connect");
  return { phone, page };
}

export async function startPhone(topology: Topology, exit: Exit, laptop: Laptop): Promise<Phone> {
  // The phone trusts exactly the exit's and the laptop's certificates, by their key, and lets the
  // exit's page reach the local network, as a user who followed the PWA's steps would.
  const context = await launchPhoneBrowser(topology, [
    `--ignore-certificate-errors-spki-list=${[exit.spkiSha256, laptop.spkiSha256].join(",")}`,
  ]);
  await context.grantPermissions(["local-network-access"], { origin: exit.origin });
  return {
    context,
    async open(link, options = {}) {
      const page = await context.newPage();
      if (options.confirmPairing !== false) await page.addInitScript(CONFIRM_PAIRING_SCRIPT);
      await page.goto(link, { timeout: STEP_TIMEOUT_MS });
      if (options.waitForRelay !== false) {
        await waitForRelaying(page, STEP_TIMEOUT_MS);
      }
      return page;
    },
  };
}

/** What the phone's relay reports (the page exposes it as globalThis.tether.relay). */
export interface PageRelayStats {
  relaying: boolean;
  session: string;
  address: string | undefined;
  packetsUp: number;
  packetsDown: number;
  laptop: { state: string; lastClose: string; rttMs: number | undefined; opens: number };
  exit: { state: string; lastClose: string; rttMs: number | undefined; opens: number };
  endToEndRttMs: number | undefined;
}

export async function relayStats(page: Page): Promise<PageRelayStats | undefined> {
  return page.evaluate(`(() => {
    const relay = globalThis.tether?.relay;
    // A page still starting (or reloading) has no relay yet: that is "not relaying", from zero.
    if (!relay) {
      const idle = { state: "idle", lastClose: "", rttMs: undefined, opens: 0 };
      return { relaying: false, session: "none", address: undefined, packetsUp: 0, packetsDown: 0,
        laptop: idle, exit: idle, endToEndRttMs: undefined };
    }
    const s = relay.sample();
    const leg = (l) => ({ state: l.state, lastClose: l.lastClose, rttMs: l.rttMs, opens: l.opens });
    return { relaying: relay.relaying, session: s.session, address: s.address, packetsUp: s.packetsUp,
      packetsDown: s.packetsDown, laptop: leg(s.laptop), exit: leg(s.exit), endToEndRttMs: s.endToEndRttMs };
  })()`);
}

/**
 * Polls the page's relay every `intervalMs` until `done` holds; returns the stats and the time it
 * took. Survives a page reload (a poll during navigation just sees no relay yet).
 */
export async function waitForRelay(
  page: Page,
  done: (stats: PageRelayStats) => boolean,
  what: string,
  timeoutMs = STEP_TIMEOUT_MS,
  intervalMs = 20,
): Promise<{ stats: PageRelayStats; ms: number }> {
  const started = Date.now();
  for (;;) {
    const stats = await relayStats(page).catch(() => undefined);
    if (stats && done(stats)) return { stats, ms: Date.now() - started };
    if (Date.now() - started > timeoutMs) {
      throw new ChainError(`${what}: not reached in ${timeoutMs} ms; relay: ${JSON.stringify(stats)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Waits until the page has noticed that a leg was dropped after `before` was sampled: it is seen
 * not relaying, or a leg has opened again since (a redial can be over between two polls, more so
 * on a loaded machine, so a gap in `relaying` alone may never be seen).
 */
export function waitForRelayDrop(
  page: Page,
  before: PageRelayStats,
  what: string,
  timeoutMs = STEP_TIMEOUT_MS,
): Promise<{ stats: PageRelayStats; ms: number }> {
  return waitForRelay(
    page,
    (s) => !s.relaying || s.exit.opens > before.exit.opens || s.laptop.opens > before.laptop.opens,
    what,
    timeoutMs,
  );
}

/**
 * From the laptop's namespace, through the tether: the internet's hello page, then `bytes` of its
 * seeded content piped into sha256sum. Returns both for the caller to assert.
 */
export async function fetchThroughTether(
  topology: Topology,
  bytes: number,
  seed: string,
): Promise<{ hello: string; sha256: string }> {
  const hello = await topology.exec("laptop", [
    "curl",
    "-sS",
    "--max-time",
    "10",
    "http://internet.test/hello",
  ]);
  const url = `http://${topology.addr.egress.internet}/bytes/${bytes}?seed=${seed}`;
  const sum = await topology.exec("laptop", ["sh", "-c", `curl -sS --max-time 30 ${url} | sha256sum`], {
    check: true,
  });
  return { hello: hello.stdout.trim(), sha256: sum.stdout.split(" ")[0] ?? "" };
}
