// The laptop as a library: the CLI turns flags into a LaptopConfig and calls startLaptop.
//
//   apps -> kernel -> TUN -> LaptopTunnel -> DATA -> phone (wss) -> exit
//   exit -> phone -> LaptopTunnel -> TUN -> kernel -> apps
//
// Every change to the system (TUN, address, routes, DNS) has its undo registered the moment it is
// made, and stop() runs them all, from any exit path.
//
// Started as root, it gives root up once its TUN is open (and before it binds its listener, unless
// the port needs root: then right after) (runAs): from then
// on the process that faces the LAN is that account's, and every change to the system goes to the
// privileged helper it started just before (privileged-client.ts), which keeps root for that
// alone and puts everything back when this process ends, however it ends.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { type ClientKey, ClientKeyError, parseClientKey } from "../protocol/client-key.js";
import type { TunDevice } from "../tun/device.js";
import { openTun } from "../tun/index.js";
import { loadOrCreateCertificate } from "./certificate.js";
import { ConfigError, type LaptopConfig } from "./config.js";
import { handOverConfigDir } from "./config-owner.js";
import { appOriginOf, pairingLink } from "./pairing.js";
import { PhoneServer } from "./phone-server.js";
import { type Account, dropPrivileges } from "./privilege-drop.js";
import { helperStateDir, PrivilegedClient } from "./privileged-client.js";
import type { PrivilegedError } from "./privileged-protocol.js";
import { readFileNoFollow, writeFileSafely } from "./safe-write.js";
import { LaptopSystem, type SystemChanges } from "./system-changes.js";
import { LaptopTunnel, type TunnelError, type TunnelState } from "./tunnel.js";

/** Bytes of randomness in the pairing secret. */
const PAIRING_SECRET_BYTES = 24;

export interface LaptopEvents {
  state(state: TunnelState, detail?: string): void;
  /** The tunnel cannot go on (the exit refused the key), or the privileged helper is gone. */
  fatal(error: TunnelError | PrivilegedError): void;
  refused(remote: string, why: string): void;
  notice(message: string): void;
}

export interface RunningLaptop {
  link: string;
  addresses: string[];
  tunnel: LaptopTunnel;
  tun: TunDevice;
  /** The privileged helper, when root was given up: its pid, and whether it holds CAP_NET_ADMIN alone. */
  helper: { pid: number; confined: boolean } | undefined;
  /** Undoes everything; safe to call twice. */
  stop(): Promise<void>;
  /**
   * The synchronous part of stop() for an exit handler: routes and DNS back (with the privileged
   * helper: its pipe closed, which makes it put them back on its own).
   */
  restoreSync(): void;
}

/**
 * The addresses a phone can reach this laptop on: IPv4, not loopback, and on an interface with a
 * hardware address (Wi-Fi, Ethernet, USB); tunnels (this one included) have none.
 */
export function localAddresses(): string[] {
  const found: string[] = [];
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) {
      if (entry.family === "IPv4" && !entry.internal && entry.mac !== "00:00:00:00:00:00")
        found.push(entry.address);
    }
  }
  return found;
}

/** The lowest port a process without CAP_NET_BIND_SERVICE may bind (this namespace's sysctl). */
function unprivilegedPortStart(): number {
  try {
    return Number(readFileSync("/proc/sys/net/ipv4/ip_unprivileged_port_start", "utf8").trim()) || 1024;
  } catch {
    return 1024; // the kernel's default
  }
}

/** The pairing secret is kept, so a paired phone stays paired across laptop restarts. */
async function loadOrCreatePairingSecret(dir: string): Promise<string> {
  const path = join(dir, "pairing-secret");
  // As root in a folder its user owns: never through a planted link (laptop/safe-write.ts).
  const kept = (await readFileNoFollow(path))?.trim();
  if (kept !== undefined && kept.length >= 16) return kept;
  const secret = randomBytes(PAIRING_SECRET_BYTES).toString("base64url");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileSafely(path, `${secret}\n`, 0o600);
  return secret;
}

function parseKey(text: string): ClientKey {
  try {
    return parseClientKey(text);
  } catch (error) {
    if (error instanceof ClientKeyError) throw new ConfigError(`--key: ${error.message}`);
    throw error;
  }
}

export interface LaptopPrivileges {
  /**
   * Give root up to this account once the TUN is open and the listener bound, leaving every
   * system change to a privileged helper. Undefined: the process stays as it is (not root but
   * with CAP_NET_ADMIN, and changes the system itself).
   */
  runAs?: Account;
}

/** The system changes of this run: the privileged helper when root is given up, else in-process. */
async function systemChanges(
  config: LaptopConfig,
  runAs: Account | undefined,
  events: LaptopEvents,
): Promise<SystemChanges & { close(): Promise<void> }> {
  if (runAs) {
    return PrivilegedClient.start({
      tunName: config.tunName,
      dns: config.dns,
      stateDir: helperStateDir(config.configDir),
      onGone: (why) =>
        events.fatal(
          Object.assign(new Error(`${why}: routes and DNS can no longer be changed`), {
            name: "PrivilegedError",
            code: "PRIVILEGED_HELPER_GONE",
          }) as PrivilegedError,
        ),
    });
  }
  // Without root, the folder is this process's own (the backup and marker were always there).
  const system = new LaptopSystem({ tunName: config.tunName, dns: config.dns, stateDir: config.configDir });
  return Object.assign(system, { close: async () => system.restoreSync() });
}

export async function startLaptop(
  config: LaptopConfig,
  events: LaptopEvents,
  privileges: LaptopPrivileges = {},
): Promise<RunningLaptop> {
  const key = parseKey(config.key);
  let appOrigin: string;
  try {
    appOrigin = appOriginOf(config.exit);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  const addresses = config.listen.length ? config.listen : localAddresses();
  if (addresses.length === 0) {
    throw new ConfigError(
      "this machine has no network address the phone could reach: join the phone's hotspot or plug in USB first",
    );
  }
  const advertise = config.advertise || addresses[0]!;
  const certificate = await loadOrCreateCertificate(config.configDir, addresses);
  const secret = await loadOrCreatePairingSecret(config.configDir);

  // Offloads: the kernel hands over TSO super-packets (split in the reader thread, one read for
  // dozens of packets) and takes the coalesced segments of a DATA frame in one write.
  // Super-packets handed over whole: the tunnel sends them on, or splits them for an exit without.
  const tun = await openTun({
    name: config.tunName,
    offload: { superPackets: true, onNote: (note) => events.notice(note) },
  });
  let system: SystemChanges & { close(): Promise<void> };
  try {
    system = await systemChanges(config, privileges.runAs, events);
  } catch (error) {
    await tun.close();
    throw error;
  }
  for (const notice of system.recoverSync()) events.notice(notice);
  const restoreSync = () => system.restoreSync();
  const tunnel = new LaptopTunnel(
    tun,
    key,
    {
      welcome: async (welcome) => {
        await system.address({
          address: welcome.address,
          prefixLength: welcome.prefixLength,
          mtu: welcome.mtu,
        });
        // After the IPv4 address: the TUN's MTU (>= 1280 with IPv6) must be set before its IPv6 one.
        // Without IPv6 from the exit, IPv6 is made unreachable rather than left to the hotspot.
        await system.address6(
          welcome.ipv6 && { address: welcome.ipv6.address, prefixLength: welcome.ipv6.prefixLength },
        );
        if (config.dns) await system.dns(bothFamilies(welcome.dns, welcome.ipv6?.dns ?? []));
      },
      state: events.state,
      fatal: events.fatal,
    },
    { maxPacketsPerFrame: config.maxPacketsPerFrame },
  );
  const server = new PhoneServer({
    addresses,
    port: config.port,
    certificate,
    pairingSecret: secret,
    allowedOrigins: [appOrigin, ...config.allowOrigins],
    onRelay: (transport, encoding, remote) => tunnel.attach(transport, encoding, remote),
    onRefused: events.refused,
  });
  const runAs = privileges.runAs;
  const dropRoot = () => {
    if (!runAs) return;
    // What root wrote in the config folder becomes the account's, then root is gone for good.
    handOverConfigDir(config.configDir, runAs);
    dropPrivileges(runAs);
  };
  // A port that needs no root to bind is bound after root is gone, so not one connection from the
  // LAN is ever handled as root; a lower one is bound first, and root goes right after.
  const bindAsRoot = runAs !== undefined && config.port < unprivilegedPortStart();
  try {
    if (!bindAsRoot) dropRoot();
    await server.listen();
    if (bindAsRoot) dropRoot();
  } catch (error) {
    await server.close().catch(() => undefined);
    await system.close();
    await tun.close();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE")
      throw new ConfigError(`port ${config.port} is in use: is another tether running? (--port)`);
    throw error;
  }

  let stopped: Promise<void> | undefined;
  return {
    link: pairingLink({
      appOrigin,
      laptopUrl: `wss://${advertise}:${config.port}`,
      secret,
      spkiSha256: certificate.spkiSha256,
    }),
    addresses,
    tunnel,
    tun,
    helper: system instanceof PrivilegedClient ? { pid: system.pid, confined: system.confined } : undefined,
    restoreSync,
    stop: () => {
      stopped ??= (async () => {
        tunnel.close();
        await system.close(); // routes and DNS back (the helper's answer awaited), the helper gone
        await server.close();
        await tun.close();
      })();
      return stopped;
    },
  };
}

/**
 * IPv4 and IPv6 servers taken in turn (v4, v6, v4, ...): resolv.conf readers use only the first
 * three, and each family should be among them.
 */
export function bothFamilies(ipv4: readonly string[], ipv6: readonly string[]): string[] {
  const servers: string[] = [];
  for (let i = 0; i < Math.max(ipv4.length, ipv6.length); i++) {
    if (i < ipv4.length) servers.push(ipv4[i]!);
    if (i < ipv6.length) servers.push(ipv6[i]!);
  }
  return servers;
}
