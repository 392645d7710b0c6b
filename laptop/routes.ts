// Points the laptop's traffic at the TUN: its address and MTU, and routes 0.0.0.0/1 and
// 128.0.0.0/1 through it. The two halves win over the default route by being more specific, so the
// default route and the link to the phone stay exactly as they were and come back by themselves.
// Undo is synchronous, so it also runs from an exit handler after a crash.
import { execFileSync } from "node:child_process";
import { configureInterface, run } from "../tun/command.js";

/** The halves of the IPv4 space that together cover everything, each more specific than default. */
export const TUNNEL_ROUTES = ["0.0.0.0/1", "128.0.0.0/1"] as const;

export interface TunnelAddress {
  address: string;
  prefixLength: number;
  mtu: number;
}

export class Routes {
  private applied: TunnelAddress | undefined;

  constructor(private readonly tunName: string) {}

  /** Applies (or re-applies, when the exit assigned something else) the tunnel's address and routes. */
  async apply(config: TunnelAddress): Promise<void> {
    const previous = this.applied;
    if (previous && previous.address === config.address && previous.mtu === config.mtu) return;
    if (previous && previous.address !== config.address) {
      await run(["ip", "addr", "del", `${previous.address}/${previous.prefixLength}`, "dev", this.tunName]);
    }
    await configureInterface(this.tunName, config);
    this.applied = config;
    for (const route of TUNNEL_ROUTES) {
      await run(["ip", "route", "replace", route, "dev", this.tunName]);
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
