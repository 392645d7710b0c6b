// Every change tether makes to the laptop's system, behind one small interface: the TUN's IPv4
// address and routes, its IPv6 address and routes (or IPv6 made unreachable), DNS, and putting it
// all back. The privileged helper drives the real one (LaptopSystem) on behalf of the
// unprivileged tether; its tests drive a fake. A tether that is not root (CAP_NET_ADMIN only)
// uses LaptopSystem in its own process.
//
// Each method checks what it is given before anything changes, because the values come from the
// exit, through a phone, through a process that faces the LAN: routes.ts refuses an IPv4 address
// that is no unicast or on the laptop's own networks, dns.ts anything but plain IP addresses, and
// refusedTunnelAddress6 below the same for IPv6. A refused change leaves the last good one.
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { ipv6Network, isIpv4Mapped, tryParseIpv6 } from "../protocol/ip.js";
import { Dns } from "./dns.js";
import { Routes, type TunnelAddress } from "./routes.js";
import { Routes6, type TunnelAddress6 } from "./routes6.js";

export interface SystemChanges {
  /** Puts back what a killed run left changed; what it did, in words (empty: nothing). */
  recoverSync(): string[];
  /** The TUN's IPv4 address, MTU and the two halves of IPv4 through it. Rejects with a coded error. */
  address(config: TunnelAddress): Promise<void>;
  /** The TUN's IPv6 address and routes, or (undefined) IPv6 unreachable. Rejects with a coded error. */
  address6(config: TunnelAddress6 | undefined): Promise<void>;
  /** DNS to these servers. Rejects with a coded error. */
  dns(servers: readonly string[]): Promise<void>;
  /** Everything back as it was; safe at any time and twice; synchronous for exit handlers. */
  restoreSync(): void;
}

export type SystemChangeErrorCode =
  /** Not an IPv6 address a TUN may hold (unspecified, loopback, multicast, link-local, mapped). */
  | "ROUTES6_BAD_ADDRESS"
  /** On an IPv6 network the laptop is already on: taking it would cut that link. */
  | "ROUTES6_LOCAL_NETWORK"
  /** The system (`ip`) refused the IPv6 change. */
  | "ROUTES6_REFUSED";

export class SystemChangeError extends Error {
  override name = "SystemChangeError";
  constructor(
    readonly code: SystemChangeErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The first byte of multicast (ff00::/8); fe80::/10 is link-local. */
const IPV6_MULTICAST_BYTE = 0xff;

/** The IPv6 networks of this machine's interfaces other than `except`, as "addr/len". */
export function localNetworks6(except: string): string[] {
  const found: string[] = [];
  for (const [name, entries] of Object.entries(networkInterfaces())) {
    if (name === except) continue;
    for (const entry of entries ?? []) if (entry.family === "IPv6" && entry.cidr) found.push(entry.cidr);
  }
  return found;
}

/** Why `config` may not be put on the TUN as its IPv6 address, or undefined if it may. */
export function refusedTunnelAddress6(
  config: TunnelAddress6,
  localCidrs: readonly string[],
): SystemChangeError | undefined {
  const bytes = tryParseIpv6(config.address);
  const zero = bytes?.subarray(0, 15).every((b) => b === 0) ?? false;
  if (
    bytes === undefined ||
    (zero && (bytes[15] === 0 || bytes[15] === 1)) || // :: and ::1
    bytes[0] === IPV6_MULTICAST_BYTE ||
    (bytes[0] === 0xfe && (bytes[1]! & 0xc0) === 0x80) || // fe80::/10
    isIpv4Mapped(bytes)
  ) {
    return new SystemChangeError(
      "ROUTES6_BAD_ADDRESS",
      `the exit assigned ${JSON.stringify(config.address)}, which is no IPv6 address for a tunnel`,
    );
  }
  for (const text of localCidrs) {
    const [network = "", length = "128"] = text.split("/");
    const base = tryParseIpv6(network);
    const bits = Number(length);
    if (base === undefined || !Number.isInteger(bits) || bits < 1 || bits > 128) continue;
    const a = ipv6Network(bytes, bits);
    const b = ipv6Network(base, bits);
    if (a.every((byte, i) => byte === b[i])) {
      return new SystemChangeError(
        "ROUTES6_LOCAL_NETWORK",
        `the exit assigned ${config.address}, which is on this laptop's own network ${text}: taking it would cut that link`,
      );
    }
  }
  return undefined;
}

export interface LaptopSystemOptions {
  tunName: string;
  /** Whether DNS may be changed at all (--no-dns: every dns() is refused by the caller). */
  dns: boolean;
  /**
   * Where the original resolv.conf and the IPv6 routes' marker are kept while tether runs: a
   * folder only root can write (never the user's config folder, which the unprivileged tether
   * can write: a backup planted there would be copied over /etc/resolv.conf by root). It must
   * exist (privileged-helper-main.ts makes it).
   */
  stateDir: string;
  /** /etc/resolv.conf unless a test says otherwise. */
  resolvConf?: string;
}

/** The real system: routes.ts, routes6.ts and dns.ts. */
export class LaptopSystem implements SystemChanges {
  private readonly routes: Routes;
  private readonly routes6: Routes6;
  private readonly resolver: Dns;

  constructor(private readonly options: LaptopSystemOptions) {
    this.routes = new Routes(options.tunName);
    this.routes6 = new Routes6(options.tunName, { markerPath: join(options.stateDir, "routes6.up") });
    this.resolver = new Dns({
      tunName: options.tunName,
      backupPath: join(options.stateDir, "resolv.conf.backup"),
      ...(options.resolvConf ? { resolvConf: options.resolvConf } : {}),
    });
  }

  recoverSync(): string[] {
    const notices: string[] = [];
    if (this.options.dns && this.resolver.recoverSync())
      notices.push("restored /etc/resolv.conf left changed by an earlier run");
    if (this.routes6.recoverSync() > 0) notices.push("removed IPv6 routes left by an earlier run");
    return notices;
  }

  address(config: TunnelAddress): Promise<void> {
    return this.routes.apply(config);
  }

  async address6(config: TunnelAddress6 | undefined): Promise<void> {
    if (config) {
      const refusal = refusedTunnelAddress6(config, localNetworks6(this.options.tunName));
      if (refusal) throw refusal;
    }
    try {
      await this.routes6.apply(config);
    } catch (error) {
      throw new SystemChangeError(
        "ROUTES6_REFUSED",
        `the system refused the tunnel's IPv6 ${config?.address ?? "unreachable routes"}: ${(error as Error).message}`,
      );
    }
  }

  dns(servers: readonly string[]): Promise<void> {
    return this.resolver.apply(servers);
  }

  restoreSync(): void {
    this.routes6.restoreSync();
    this.routes.restoreSync();
    this.resolver.restoreSync();
  }
}
