// The laptop as a library: the CLI turns flags into a LaptopConfig and calls startLaptop.
//
//   apps -> kernel -> TUN -> LaptopTunnel -> DATA -> phone (wss) -> exit
//   exit -> phone -> LaptopTunnel -> TUN -> kernel -> apps
//
// Every change to the system (TUN, address, routes, DNS) has its undo registered the moment it is
// made, and stop() runs them all, from any exit path.
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { type ClientKey, ClientKeyError, parseClientKey } from "../protocol/client-key.js";
import type { TunDevice } from "../tun/device.js";
import { openTun } from "../tun/index.js";
import { loadOrCreateCertificate } from "./certificate.js";
import { ConfigError, type LaptopConfig } from "./config.js";
import { Dns } from "./dns.js";
import { appOriginOf, pairingLink } from "./pairing.js";
import { PhoneServer } from "./phone-server.js";
import { Routes } from "./routes.js";
import { Routes6 } from "./routes6.js";
import { LaptopTunnel, type TunnelError, type TunnelState } from "./tunnel.js";

/** Bytes of randomness in the pairing secret. */
const PAIRING_SECRET_BYTES = 24;

export interface LaptopEvents {
  state(state: TunnelState, detail?: string): void;
  fatal(error: TunnelError): void;
  refused(remote: string, why: string): void;
  notice(message: string): void;
}

export interface RunningLaptop {
  link: string;
  addresses: string[];
  tunnel: LaptopTunnel;
  tun: TunDevice;
  /** Undoes everything; safe to call twice. */
  stop(): Promise<void>;
  /** The synchronous part of stop() for an exit handler: routes and DNS back. */
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

/** The pairing secret is kept, so a paired phone stays paired across laptop restarts. */
async function loadOrCreatePairingSecret(dir: string): Promise<string> {
  const path = join(dir, "pairing-secret");
  try {
    const secret = (await readFile(path, "utf8")).trim();
    if (secret.length >= 16) return secret;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const secret = randomBytes(PAIRING_SECRET_BYTES).toString("base64url");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(path, `${secret}\n`, { mode: 0o600 });
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

export async function startLaptop(config: LaptopConfig, events: LaptopEvents): Promise<RunningLaptop> {
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
  const dns = new Dns({ tunName: config.tunName, backupPath: join(config.configDir, "resolv.conf.backup") });
  if (config.dns && dns.recoverSync())
    events.notice("restored /etc/resolv.conf left changed by an earlier run");
  const certificate = await loadOrCreateCertificate(config.configDir, addresses);
  const secret = await loadOrCreatePairingSecret(config.configDir);

  const routes = new Routes(config.tunName);
  const routes6 = new Routes6(config.tunName, { markerPath: join(config.configDir, "routes6.up") });
  if (routes6.recoverSync()) events.notice("removed IPv6 routes left by an earlier run");
  // Offloads: the kernel hands over TSO super-packets (split in the reader thread, one read for
  // dozens of packets) and takes the coalesced segments of a DATA frame in one write.
  const tun = await openTun({ name: config.tunName, offload: { onNote: (note) => events.notice(note) } });
  const restoreSync = () => {
    routes6.restoreSync();
    routes.restoreSync();
    dns.restoreSync();
  };
  const tunnel = new LaptopTunnel(
    tun,
    key,
    {
      welcome: async (welcome) => {
        await routes.apply({
          address: welcome.address,
          prefixLength: welcome.prefixLength,
          mtu: welcome.mtu,
        });
        // After routes.apply: the TUN's MTU (>= 1280 with IPv6) must be set before its IPv6 address.
        // Without IPv6 from the exit, IPv6 is made unreachable rather than left to the hotspot.
        await routes6.apply(
          welcome.ipv6 && { address: welcome.ipv6.address, prefixLength: welcome.ipv6.prefixLength },
        );
        if (config.dns) await dns.apply(bothFamilies(welcome.dns, welcome.ipv6?.dns ?? []));
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
  try {
    await server.listen();
  } catch (error) {
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
    restoreSync,
    stop: () => {
      stopped ??= (async () => {
        tunnel.close();
        restoreSync();
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
