// `npm run demo`: the whole Tether on this machine. Four network namespaces (laptop, phone, exit,
// internet), the real exit and `tether` CLI, the built PWA in headless Chromium as the phone; then
// curls from the laptop through it all, what the phone app shows, and the laptop's routes and DNS
// put back when it stops. Everything is removed when it ends, on Ctrl-C, or on SIGTERM/SIGHUP.
//   npm run demo            bring it up, show a transfer, stop, tear down (exit 0)
//   npm run demo -- --hold  keep it up until Ctrl-C/SIGTERM/SIGHUP, then stop the same way (exit 0)
// e2e/demo.test.ts runs both exactly so.
import { constants as osConstants } from "node:os";
import type { Page } from "playwright-core";
import { exitedCode, outputOf, startExit, startLaptop, startPhone, waitForOutput } from "./chain.js";
import { startInternet } from "./internet.js";
import { readPhoneScreen } from "./phone-screen.js";
import { createTopology, type Topology } from "./topology.js";

/** The bulk transfer through the tether: big enough to see a rate, small enough for a few seconds. */
const BULK_BYTES = 20 * 1024 * 1024;
/** The phone app counts relayed bytes on a timer: how long to wait for it to pass BULK_BYTES. */
const USAGE_WAIT_MS = 5_000;
/** How long the laptop may take to put routes and DNS back after SIGINT. */
const LAPTOP_STOP_TIMEOUT_MS = 15_000;
/** Signals that end the demo (Ctrl-C, a service manager, a closed terminal). */
const STOP_SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

const hold = process.argv.includes("--hold");
const step = (message: string) => process.stdout.write(`\n== ${message}\n`);
const say = (line: string) => process.stdout.write(`${line}\n`);

/**
 * The demo owns the stop signals, so it can stop in order: while holding, the first one ends the
 * hold (then `tether` stops and puts routes and DNS back, as after a default run); before that, it
 * tears everything down at once and exits 128 + the signal's number.
 */
let holding = false;
let current: Topology | undefined;
let endHold: (signal: NodeJS.Signals) => void = () => {};
const holdEnded = new Promise<NodeJS.Signals>((resolve) => {
  endHold = resolve;
});
let signalled = false;
for (const signal of STOP_SIGNALS) {
  process.on(signal, () => {
    if (signalled) return;
    signalled = true;
    if (holding) return endHold(signal);
    say(`\n${signal}: tearing down`);
    void (current?.destroy() ?? Promise.resolve())
      .catch(() => {})
      .finally(() => {
        say("namespaces removed");
        process.exit(128 + (osConstants.signals[signal] ?? 0));
      });
  });
}

/** The laptop namespace's routing table and resolver, as its user would look at them. */
async function networkSettings(topology: Topology): Promise<{ routes: string; resolver: string }> {
  const routes = await topology.exec("laptop", ["ip", "-4", "route", "show"], { check: true });
  const resolver = await topology.exec("laptop", ["cat", "/etc/resolv.conf"], { check: true });
  return {
    routes: routes.stdout.trim(),
    resolver: resolver.stdout
      .split("\n")
      .filter((line) => line.startsWith("nameserver"))
      .join(", "),
  };
}

function printSettings(label: string, settings: { routes: string; resolver: string }): void {
  say(`${label}: routes: ${settings.routes.split("\n").join(" | ")}`);
  say(`${label}: resolver: ${settings.resolver}`);
}

function curlLine(result: { code: number; stdout: string; stderr: string }): string {
  return result.code === 0 ? result.stdout.trim() : result.stderr.trim() || `exit ${result.code}`;
}

async function showPhone(page: Page, atLeastBytes: number): Promise<void> {
  const deadline = Date.now() + USAGE_WAIT_MS;
  let screen = await readPhoneScreen(page);
  while ((screen.usageTodayBytes ?? 0) < atLeastBytes && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    screen = await readPhoneScreen(page);
  }
  say(`phone shows: relaying ${screen.relaying ?? "?"}, data used today ${screen.usageToday ?? "?"}`);
  say(`phone shows: exact bytes relayed today ${screen.usageTodayBytes ?? "?"}`);
  say(`phone shows: round trip laptop <-> exit ${screen.roundTrip ?? "?"}`);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new Error("the demo creates network namespaces: run it as root (sudo npm run demo)");
  }
  step("creating namespaces laptop, phone, exit, internet");
  const topology = await createTopology({ tag: "demo", signals: false });
  current = topology;
  try {
    const { ns, addr } = topology;
    say(
      `laptop ${ns.laptop} ${addr.hotspot.laptop} -> phone ${ns.phone} (hotspot ${addr.hotspot.phone}, carrier ${addr.carrier.phone})\n` +
        `  -> exit ${ns.exit} ${addr.carrier.exit} / ${addr.egress.exit} -> internet ${ns.internet} ${addr.egress.internet}`,
    );
    const before = await networkSettings(topology);
    printSettings("laptop before", before);

    step("without Tether the laptop cannot reach the internet (the phone does not forward)");
    const direct = await topology.exec("laptop", [
      "curl",
      "-sS",
      "--max-time",
      "2",
      `http://${addr.egress.internet}/hello`,
    ]);
    say(`curl: ${curlLine(direct)}`);

    step("starting the internet (HTTP, DNS) and the exit");
    await startInternet(topology, { iperf3: false });
    const exit = await startExit(topology);
    const key = await exit.addKey("demo-laptop");
    say(`exit serving ${exit.origin}; client key created for demo-laptop`);

    step("starting `tether` on the laptop");
    const laptop = await startLaptop(topology, exit, key);
    say(`pairing link: ${laptop.link}`);

    step("opening the link in the phone's headless Chromium");
    const phone = await startPhone(topology, exit, laptop);
    const page = await phone.open(laptop.link);
    const connected = await waitForOutput(laptop.process, /tether: connected[^\n]*/, "the laptop to connect");
    say(connected[0]);
    say(`phone says: ${(await readPhoneScreen(page)).message ?? "(no status line)"}`);

    step("the laptop's traffic now goes through the phone");
    printSettings("laptop tethered", await networkSettings(topology));
    const hello = await topology.exec("laptop", [
      "curl",
      "-sS",
      "--max-time",
      "10",
      "http://internet.test/hello",
    ]);
    say(`curl http://internet.test/hello -> ${curlLine(hello)}`);
    const bulk = await topology.exec("laptop", [
      "curl",
      "-sS",
      "--max-time",
      "60",
      "-o",
      "/dev/null",
      "-w",
      "%{size_download} bytes at %{speed_download} B/s\n",
      `http://${addr.egress.internet}/bytes/${BULK_BYTES}?seed=demo`,
    ]);
    say(`curl 20 MiB -> ${curlLine(bulk)}`);
    await showPhone(page, BULK_BYTES);

    if (hold) {
      step(`holding; try: sudo ip netns exec ${ns.laptop} curl http://internet.test/hello  (Ctrl-C ends)`);
      holding = true;
      const signal = await holdEnded;
      say(`${signal}: stopping`);
    }

    step("stopping `tether`; the laptop puts routes and DNS back");
    laptop.process.kill("SIGINT");
    const code = await exitedCode(laptop.process, LAPTOP_STOP_TIMEOUT_MS);
    const lastLine = outputOf(laptop.process).trim().split("\n").pop() ?? "";
    say(`tether exited ${code}: ${lastLine}`);
    const after = await networkSettings(topology);
    printSettings("laptop after", after);
    const restored = after.routes === before.routes && after.resolver === before.resolver;
    say(`routes and DNS restored: ${restored ? "yes" : "NO"}`);
    if (!restored) throw new Error("the laptop's routes or DNS differ from before the tether");
  } finally {
    await topology.destroy();
    say("namespaces removed");
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
