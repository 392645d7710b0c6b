// The laptop's IPv6: with an address from the exit, the TUN gets it and the routes ::/1 and
// 8000::/1; without one, the same two halves become `unreachable` while the tether runs, so IPv6
// fails at once (ENETUNREACH) instead of leaking to the hotspot or waiting for a timeout. Either
// way the two halves win over the link's default route by being more specific, and the link's own
// on-link, link-local and default routes stay exactly as they were.
//
// Every route is added with the protocol number RTPROT_TETHER, and a marker file in the config
// folder says they are there, so the routes of a run that was killed (an unreachable route
// outlives the TUN) are found and removed by the next start of the same tether, and never those
// of another tether running beside it.
// Undo is synchronous, so it also runs from an exit handler after a crash.
import { execFileSync } from "node:child_process";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { run } from "../tun/command.js";

/** The halves of the IPv6 space that together cover everything, each more specific than default. */
export const TUNNEL_ROUTES6 = ["::/1", "8000::/1"] as const;
/** The route protocol Tether marks its routes with (unassigned in rtnetlink.h and rt_protos). */
export const RTPROT_TETHER = 77;
/** Longest the synchronous undo may take per command, ms. */
const RESTORE_TIMEOUT_MS = 5_000;

export interface TunnelAddress6 {
  address: string;
  prefixLength: number;
}

export interface Routes6Options {
  /** The `ip` command and leading options; ["ip", "-n", NS] in tests. Default ["ip"]. */
  ip?: readonly string[];
  /** The marker file (in the config folder): present while routes of this tether may be up. */
  markerPath?: string;
}

type Applied = { kind: "tunnel"; address: TunnelAddress6 } | { kind: "unreachable" };

export class Routes6 {
  private applied: Applied | undefined;
  private readonly ip: readonly string[];
  private readonly markerPath: string | undefined;

  constructor(
    private readonly tunName: string,
    options: Routes6Options = {},
  ) {
    this.ip = options.ip ?? ["ip"];
    this.markerPath = options.markerPath;
  }

  /**
   * Removes the routes an earlier run left (killed before it could undo them). Synchronous, like
   * the undo; returns how many it removed.
   */
  recoverSync(): number {
    if (this.markerPath !== undefined && !existsSync(this.markerPath)) return 0;
    let removed = 0;
    for (const route of this.listSync()) {
      if (this.tryDelete(route)) removed++;
    }
    this.forgetMarker();
    return removed;
  }

  /**
   * The exit's IPv6 for this session: its address and the two halves through the TUN; or, with
   * `undefined` (the exit offers none), both halves unreachable. Re-applying the same is a no-op.
   * The TUN must be up with an MTU of at least 1280 (Routes.apply sets it first).
   */
  async apply(address: TunnelAddress6 | undefined): Promise<void> {
    const previous = this.applied;
    if (this.markerPath !== undefined && !previous) writeFileSync(this.markerPath, "", { mode: 0o600 }); // before the change
    if (address === undefined) {
      if (previous?.kind === "unreachable") return;
      if (previous?.kind === "tunnel") await this.removeAddress(previous.address);
      for (const route of TUNNEL_ROUTES6)
        await this.command("route", "replace", "unreachable", route, ...this.proto());
      this.applied = { kind: "unreachable" };
      return;
    }
    if (previous?.kind === "tunnel" && previous.address.address === address.address) return;
    if (previous?.kind === "tunnel") await this.removeAddress(previous.address);
    // nodad: the TUN is point to point, nobody else is on it to have the address already.
    await this.command(
      "-6",
      "addr",
      "replace",
      `${address.address}/${address.prefixLength}`,
      "dev",
      this.tunName,
      "nodad",
    );
    this.applied = { kind: "tunnel", address };
    for (const route of TUNNEL_ROUTES6) {
      // `replace` turns an unreachable route of the same prefix into this one in one step.
      await this.command("-6", "route", "replace", route, "dev", this.tunName, ...this.proto());
    }
  }

  /** Removes the routes. Safe to call at any time, twice, or from an exit handler. */
  restoreSync(): void {
    if (!this.applied) return;
    for (const route of TUNNEL_ROUTES6) {
      this.tryDelete(
        this.applied.kind === "unreachable" ? `unreachable ${route}` : `${route} dev ${this.tunName}`,
      );
    }
    this.applied = undefined;
    this.forgetMarker();
  }

  private forgetMarker(): void {
    if (this.markerPath !== undefined) rmSync(this.markerPath, { force: true });
  }

  get active(): "tunnel" | "unreachable" | undefined {
    return this.applied?.kind;
  }

  private proto(): string[] {
    return ["proto", String(RTPROT_TETHER)];
  }

  private async command(...args: string[]): Promise<void> {
    const argv = args[0] === "-6" ? [...this.ip, ...args] : [...this.ip, "-6", ...args];
    await run(argv);
  }

  private async removeAddress(address: TunnelAddress6): Promise<void> {
    await run([
      ...this.ip,
      "-6",
      "addr",
      "del",
      `${address.address}/${address.prefixLength}`,
      "dev",
      this.tunName,
    ]).catch(
      () => undefined, // gone with the interface already
    );
  }

  /** Our routes in the main table, as `ip route del` takes them ("unreachable ::/1", "::/1 dev tun0"). */
  private listSync(): string[] {
    try {
      const out = execFileSync(
        this.ip[0]!,
        [...this.ip.slice(1), "-6", "-j", "route", "show", "proto", String(RTPROT_TETHER)],
        {
          encoding: "utf8",
          timeout: RESTORE_TIMEOUT_MS,
          stdio: ["ignore", "pipe", "ignore"],
        },
      );
      const routes = JSON.parse(out || "[]") as { type?: string; dst?: string; dev?: string }[];
      return routes.flatMap((route) => {
        if (!route.dst) return [];
        if (route.type === "unreachable") return [`unreachable ${route.dst}`];
        return route.dev ? [`${route.dst} dev ${route.dev}`] : [route.dst];
      });
    } catch {
      return [];
    }
  }

  private tryDelete(route: string): boolean {
    try {
      execFileSync(
        this.ip[0]!,
        [...this.ip.slice(1), "-6", "route", "del", ...route.split(" "), "proto", String(RTPROT_TETHER)],
        {
          stdio: "ignore",
          timeout: RESTORE_TIMEOUT_MS,
        },
      );
      return true;
    } catch {
      return false; // gone with the interface already
    }
  }
}
