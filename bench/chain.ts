// The Tether under test, for the bench: the real exit and the real `tether` CLI (chain.ts starts
// them) and the built PWA in the phone's Chromium (phone.ts), plus what the bench needs to
// watch them: the pids whose CPU and memory it reads, and the relay's own counters.
import { chmodSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { EXIT_TUN, type Exit, LAPTOP_TUN, type Laptop, startExit, startLaptop } from "../e2e/chain.js";
import type { Topology } from "../e2e/topology.js";
import type { Encoding } from "../protocol/encoding.js";
import { TUN_STATS_DIR_ENV, type TunStatsFile } from "../tun/stats-file.js";
import { waitForPath } from "./net.js";
import { BarePhone } from "./phone.js";
import { type ChromiumProcess, chromiumProcesses, workerPid } from "./proc.js";

/** How long the tunnel may take to carry a first ping once the page relays, ms. */
const PATH_TIMEOUT_MS = 20_000;

export interface BenchChain {
  exit: Exit;
  laptop: Laptop;
  /** The phone: Chromium on the pairing link, no automation attached (see phone.ts). */
  phone: BarePhone;
  encoding: Encoding;
  /** Extra environment the laptop and the exit were started with. */
  env: Record<string, string>;
  laptopPid: number;
  exitPid: number;
  /** Where the laptop's and the exit's TUN devices write their counters (tun/stats-file.ts). */
  tunStatsDir: string;
}

/** The counters of the laptop's and the exit's TUN, as their processes last wrote them. */
export interface TunCounters {
  laptop: TunStatsFile | undefined;
  exit: TunStatsFile | undefined;
}

export interface RelayCounters {
  packetsUp: number;
  packetsDown: number;
  /** WebSocket messages the relay sent towards the exit / the laptop (DATA, plus one PING a second). */
  messagesUp: number;
  messagesDown: number;
  /** Bytes of the DATA messages relayed each way, as on the wire. */
  bytesUp: number;
  bytesDown: number;
  drops: Record<string, number>;
}

/**
 * Starts exit, laptop and phone. `env` is added to the environment of the laptop and the exit only
 * (topology.spawn passes this process's environment, so it is set around their start and removed).
 */
export async function startBenchChain(
  topology: Topology,
  options: { env?: Record<string, string>; encoding?: Encoding; exitArgs?: readonly string[] } = {},
): Promise<BenchChain> {
  const tunStatsDir = topology.tempDir("tun-stats");
  // tether gives up root once started (privilege-drop.ts): its TUN's counters are written as that user.
  chmodSync(tunStatsDir, 0o777);
  const env = { ...options.env, [TUN_STATS_DIR_ENV]: tunStatsDir };
  const saved = Object.fromEntries(Object.keys(env).map((name) => [name, process.env[name]]));
  Object.assign(process.env, env);
  let exit: Exit;
  let laptop: Laptop;
  try {
    exit = await startExit(topology, [...(options.exitArgs ?? [])]);
    const key = await exit.addKey("bench-laptop");
    laptop = await startLaptop(topology, exit, key);
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
  const encoding = options.encoding ?? "binary";
  const phone = await openPhone(topology, exit, laptop, encoding);
  return {
    exit,
    laptop,
    phone,
    encoding,
    env: options.env ?? {},
    laptopPid: workerPid(laptop.process.pid ?? 0),
    exitPid: workerPid(exit.process.pid ?? 0),
    tunStatsDir,
  };
}

/** The laptop's drop counters by reason, from the status.json it rewrites every second; {} if unreadable. */
export function laptopDrops(chain: BenchChain): Record<string, number> {
  try {
    const status = JSON.parse(readFileSync(join(chain.laptop.configDir, "status.json"), "utf8")) as {
      drops?: Record<string, number>;
    };
    return status.drops ?? {};
  } catch {
    return {};
  }
}

/** The TUN counters both processes last wrote (every 200 ms); undefined for a file not (yet) there. */
export function tunCounters(chain: BenchChain): TunCounters {
  const read = (name: string) => {
    try {
      return JSON.parse(readFileSync(join(chain.tunStatsDir, `${name}.json`), "utf8")) as TunStatsFile;
    } catch {
      return undefined;
    }
  };
  return { laptop: read(LAPTOP_TUN), exit: read(EXIT_TUN) };
}

/** Reopens the phone's page with another encoding on both legs (the pairing link's `encoding`). */
export async function switchEncoding(
  topology: Topology,
  chain: BenchChain,
  encoding: Encoding,
): Promise<void> {
  if (chain.encoding === encoding) return;
  await chain.phone.stop();
  chain.phone = await openPhone(topology, chain.exit, chain.laptop, encoding);
  chain.encoding = encoding;
}

/** The phone opens the pairing link (with `encoding` forced on both legs) and the tunnel carries a ping. */
async function openPhone(
  topology: Topology,
  exit: Exit,
  laptop: Laptop,
  encoding: Encoding,
): Promise<BarePhone> {
  const phone = await BarePhone.launch(topology, linkWith(laptop.link, encoding), [
    exit.spkiSha256,
    laptop.spkiSha256,
  ]);
  let up = false;
  const confirming = phone.confirmPairing(PATH_TIMEOUT_MS, () => up);
  try {
    await waitForPath(topology, PATH_TIMEOUT_MS);
  } finally {
    up = true;
    await confirming;
  }
  return phone;
}

export async function stopBenchChain(topology: Topology, chain: BenchChain): Promise<void> {
  await chain.phone.stop();
  await topology.kill(chain.laptop.process);
  await topology.kill(chain.exit.process);
}

function linkWith(link: string, encoding: Encoding): string {
  return encoding === "binary" ? link : `${link}&encoding=${encoding}`;
}

/** The certificates of the exit and the laptop (the phone trusts both), for the ceiling's endpoints. */
export function chainCertificates(chain: BenchChain): {
  exit: { cert: string; key: string; spkiSha256: string };
  laptop: { cert: string; key: string; spkiSha256: string };
} {
  const exitDir = dirname(chain.exit.keysFile);
  return {
    exit: {
      cert: join(exitDir, "exit-cert.pem"),
      key: join(exitDir, "exit-key.pem"),
      spkiSha256: chain.exit.spkiSha256,
    },
    laptop: {
      cert: join(chain.laptop.configDir, "laptop-cert.pem"),
      key: join(chain.laptop.configDir, "laptop-key.pem"),
      spkiSha256: chain.laptop.spkiSha256,
    },
  };
}

/** The phone's Chromium processes (browser, renderers, network service...), found in its namespace. */
export function phoneProcesses(topology: Topology): ChromiumProcess[] {
  return chromiumProcesses(topology.ns.phone);
}

/** Read in the page: main.ts exposes the relay as globalThis.tether.relay. Null if its shape changed. */
const RELAY_COUNTERS = `(() => {
  const s = globalThis.tether && globalThis.tether.relay && globalThis.tether.relay.stats;
  if (!s || typeof s.packetsUp !== "number" || !s.exit || typeof s.exit.messagesOut !== "number") return null;
  return { packetsUp: s.packetsUp, packetsDown: s.packetsDown, messagesUp: s.exit.messagesOut,
    messagesDown: s.laptop.messagesOut, bytesUp: s.bytesUp, bytesDown: s.bytesDown, drops: { ...s.drops } };
})()`;

/** The relay's counters, read from the page (outside any timed window: it costs a DevTools session). */
export function relayCounters(phone: BarePhone): Promise<RelayCounters | undefined> {
  return phone.evaluate<RelayCounters>(RELAY_COUNTERS);
}

/** Counters over an interval: b - a, key by key. */
export function countersDelta(
  a: RelayCounters | undefined,
  b: RelayCounters | undefined,
): RelayCounters | undefined {
  if (!a || !b) return undefined;
  const drops: Record<string, number> = {};
  for (const [reason, count] of Object.entries(b.drops)) drops[reason] = count - (a.drops[reason] ?? 0);
  return {
    packetsUp: b.packetsUp - a.packetsUp,
    packetsDown: b.packetsDown - a.packetsDown,
    messagesUp: b.messagesUp - a.messagesUp,
    messagesDown: b.messagesDown - a.messagesDown,
    bytesUp: b.bytesUp - a.bytesUp,
    bytesDown: b.bytesDown - a.bytesDown,
    drops,
  };
}

/** The exit's drop counters by reason, from its Prometheus /metrics. */
export async function exitDrops(chain: BenchChain): Promise<Record<string, number>> {
  const drops: Record<string, number> = {};
  let text: string;
  try {
    text = await chain.exit.get("/metrics");
  } catch {
    return drops;
  }
  for (const match of text.matchAll(/^tether_exit_drops_total\{[^}]*reason="([^"]+)"[^}]*\} ([\d.e+]+)$/gm)) {
    drops[match[1]!] = (drops[match[1]!] ?? 0) + Number(match[2]);
  }
  return drops;
}
