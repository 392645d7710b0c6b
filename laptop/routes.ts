// Points the laptop's traffic at the TUN: its address and MTU, and routes 0.0.0.0/1 and
// 128.0.0.0/1 through it. The two halves win over the default route by being more specific, so the
// default route and the link to the phone stay exactly as they were and come back by themselves.
// Undo is synchronous, so it also runs from an exit handler after a crash.
//
// What the exit assigns is checked before anything changes (the exit, or a relay forging its
// WELCOME, must not put loopback or the phone's own address on the TUN), and a change the system
// refuses leaves the last good address and routes in place: the new address is added before the
// old one is removed, and taken away again if the rest fails.
import { execFileSync } from "node:child_process";
import { networkInterfaces } from "node:os";
import { ipv4CidrContains, parseIpv4Cidr, tryParseIpv4 } from "../protocol/ip.js";
import { configureInterface, run } from "../tun/command.js";

/** The halves of the IPv4 space that together cover everything, each more specific than default. */
export const TUNNEL_ROUTES = ["0.0.0.0/1", "128.0.0.0/1"] as const;

export interface TunnelAddress {
  address: string;
  prefixLength: number;
  mtu: number;
}

export type RoutesErrorCode =
  /** Not a unicast address a TUN may hold (loopback, multicast, reserved, this network). */
  | "ROUTES_BAD_ADDRESS"
  /** On a network the laptop is already on (the phone's link): taking it would cut that link. */
  | "ROUTES_LOCAL_NETWORK"
  /** The system (`ip`) refused the change; the previous configuration is kept. */
  | "ROUTES_REFUSED";

export class RoutesError extends Error {
  override name = "RoutesError";
  constructor(
    readonly code: RoutesErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const NOT_FOR_A_TUN = ["0.0.0.0/8", "127.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4"].map((cidr) =>
  parseIpv4Cidr(cidr),
);

/** The IPv4 networks of this machine's interfaces other than `except`: the laptop's own links. */
export function localNetworks(except: string): string[] {
  const found: string[] = [];
  for (const [name, entries] of Object.entries(networkInterfaces())) {
    if (name === except) continue;
    for (const entry of entries ?? []) if (entry.family === "IPv4" && entry.cidr) found.push(entry.cidr);
  }
  return found;
}

/** Why `config` may not be put on the TUN, or undefined if it may. */
export function refusedTunnelAddress(
  config: TunnelAddress,
  localCidrs: readonly string[],
): RoutesError | undefined {
  const value = tryParseIpv4(config.address);
  if (value === undefined || NOT_FOR_A_TUN.some((cidr) => ipv4CidrContains(cidr, value))) {
    return new RoutesError(
      "ROUTES_BAD_ADDRESS",
      `the exit assigned ${JSON.stringify(config.address)}, which is no address for a tunnel`,
    );
  }
  for (const text of localCidrs) {
    const [network = "", length = "32"] = text.split("/");
    const base = tryParseIpv4(network);
    const bits = Number(length);
    if (base === undefined || !Number.isInteger(bits) || bits < 1 || bits > 32) continue;
    const mask = (0xffffffff << (32 - bits)) >>> 0;
    if ((value & mask) >>> 0 === (base & mask) >>> 0) {
      return new RoutesError(
        "ROUTES_LOCAL_NETWORK",
        `the exit assigned ${config.address}, which is on this laptop's own network ${text}: taking it would cut that link`,
      );
    }
  }
  return undefined;
}

export class Routes {
  private applied: TunnelAddress | undefined;

  constructor(private readonly tunName: string) {}

  /**
   * Applies (or re-applies, when the exit assigned something else) the tunnel's address and routes.
   * Rejects with a RoutesError, the last good configuration still in place, when the address is
   * refused (by this check or by the system).
   */
  async apply(
    config: TunnelAddress,
    localCidrs: readonly string[] = localNetworks(this.tunName),
  ): Promise<void> {
    const previous = this.applied;
    if (previous && previous.address === config.address && previous.mtu === config.mtu) return;
    const refusal = refusedTunnelAddress(config, localCidrs);
    if (refusal) throw refusal;
    try {
      await configureInterface(this.tunName, config);
      for (const route of TUNNEL_ROUTES) await run(["ip", "route", "replace", route, "dev", this.tunName]);
    } catch (error) {
      await this.rollBack(config, previous);
      throw new RoutesError(
        "ROUTES_REFUSED",
        `the system refused the tunnel's address ${config.address}: ${(error as Error).message}`,
      );
    }
    if (previous && previous.address !== config.address) {
      await run([
        "ip",
        "addr",
        "del",
        `${previous.address}/${previous.prefixLength}`,
        "dev",
        this.tunName,
      ]).catch(
        () => undefined, // gone already: what matters is that the new one is there
      );
    }
    this.applied = config;
  }

  /** Takes a half-applied new address away again and puts the previous MTU back. Best effort. */
  private async rollBack(config: TunnelAddress, previous: TunnelAddress | undefined): Promise<void> {
    if (previous?.address !== config.address) {
      await run(["ip", "addr", "del", `${config.address}/${config.prefixLength}`, "dev", this.tunName]).catch(
        () => undefined,
      );
    }
    if (previous) {
      await run(["ip", "link", "set", "dev", this.tunName, "mtu", String(previous.mtu)]).catch(
        () => undefined,
      );
      for (const route of TUNNEL_ROUTES) {
        await run(["ip", "route", "replace", route, "dev", this.tunName]).catch(() => undefined);
      }
    }
  }

  /** Removes the routes and the address. Safe to call at any time, twice, or from an exit handler. */
  restoreSync(): void {
    if (!this.applied) return;
    for (const route of TUNNEL_ROUTES) {
      try {
        execFileSync("ip", ["route", "del", route, "dev", this.tunName], { stdio: "ignore", timeout: 5_000 });
      } catch {
        // gone with the interface already
      }
    }
    this.applied = undefined;
  }

  get active(): boolean {
    return this.applied !== undefined;
  }
}
