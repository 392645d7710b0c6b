// Debian's headless Chromium inside a namespace (the phone's), driven by playwright-core. Playwright
// starts "the browser" by path, so the path is a tiny script that enters the namespace first.
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";
import { e2eError } from "./errors.js";
import type { NamespaceRef, Topology } from "./topology.js";

export const CHROMIUM_PATH = "/usr/bin/chromium";

/** Flags every phone browser gets: no sandbox (root), no GPU, no traffic of its own, no QUIC. */
export const PHONE_BROWSER_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
] as const;

/** What Chromium logs when a page's Content-Security-Policy refuses something. */
const CSP_REFUSAL = /Content Security Policy/;

/** Enough to read what went wrong; a page refused in a loop must not grow the test without bound. */
const MAX_REFUSALS_KEPT = 50;

/** Per phone browser: the CSP refusals its pages logged, the first MAX_REFUSALS_KEPT (tests expect none). */
const refusals = new WeakMap<BrowserContext, string[]>();

/** The Content-Security-Policy refusals a phone browser's pages logged so far. */
export function cspViolations(context: BrowserContext): readonly string[] {
  return refusals.get(context) ?? [];
}

/** Launching Chromium from cold can take a few seconds on a loaded machine. */
const LAUNCH_TIMEOUT_MS = 60_000;

/**
 * Writes an executable `chromium` wrapper that runs /usr/bin/chromium inside `ns` (default: the
 * phone's), in a temp dir the topology removes at destroy. Returns its path, for executablePath.
 */
export async function chromiumWrapper(topology: Topology, ns: NamespaceRef = "phone"): Promise<string> {
  const name = ns in topology.ns ? topology.ns[ns as keyof Topology["ns"]] : ns;
  if (!Object.values(topology.ns).includes(name)) {
    throw e2eError("E2E_FOREIGN_NAMESPACE", `${ns} is not a namespace of ${topology.id}`);
  }
  const path = join(topology.tempDir("chromium"), "chromium");
  writeFileSync(
    path,
    `#!/bin/sh\n# Written by e2e/chromium-netns.ts for ${topology.id}.\nexec ip netns exec '${name}' ${CHROMIUM_PATH} "$@"\n`,
  );
  chmodSync(path, 0o755);
  return path;
}

/**
 * Launches headless Chromium in the phone namespace with a fresh profile (a temp user data dir,
 * removed at destroy) and registers it to be closed at destroy (Playwright's signal handlers off).
 *
 * It is a persistent context (launchPersistentContext), not browser.newContext(): a real profile on
 * disk behaves as a phone's browser does: the service worker, its cache and IndexedDB live in the
 * profile and survive page reloads and new pages, which an off-the-record context would not promise.
 * Closing the returned context closes the browser.
 */
export async function launchPhoneBrowser(
  topology: Topology,
  extraArgs: readonly string[] = [],
): Promise<BrowserContext> {
  const executablePath = await chromiumWrapper(topology, "phone");
  const userDataDir = topology.tempDir("profile");
  // Chromium keeps a few things outside the profile (crashpad's "Crash Reports", caches) under the
  // XDG folders; point those into the temp dir too, so a run leaves nothing in root's home.
  const home = topology.tempDir("xdg");
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [...PHONE_BROWSER_ARGS, ...extraArgs],
    env: { ...process.env, XDG_CONFIG_HOME: join(home, "config"), XDG_CACHE_HOME: join(home, "cache") },
    timeout: LAUNCH_TIMEOUT_MS,
    // The topology owns the signals: it closes the browser (deferred) and tears down in order.
    // Playwright's own SIGINT handler would kill the browser and exit the process with 130.
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
  topology.defer(() => context.close());
  // Every page runs under the app's own policy (no bypassCSP): what it refuses is collected here.
  const refused: string[] = [];
  refusals.set(context, refused);
  context.on("console", (message) => {
    if (CSP_REFUSAL.test(message.text()) && refused.length < MAX_REFUSALS_KEPT)
      refused.push(`${message.location().url}: ${message.text()}`);
  });
  return context;
}
