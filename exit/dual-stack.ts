// The exit's packet path by IP family, one place for both: which packets from a laptop may go to
// the TUN, and which session a packet from the TUN goes to.
//
//   laptop -> exit   IPv4: source must be the session's address, then the egress guard
//                    IPv6: source must be the session's IPv6 address, then the IPv6 egress guard
//                    anything else: not_ip; IPv6 from a session without IPv6: no_ipv6
//   exit -> laptop   IPv4: the session of the destination address
//                    IPv6: the destination's index in the IPv6 pool is its session's IPv4 host
//                    index (exit/pool6.ts), so the IPv4 session table finds it
//
// A session's IPv6 address follows from its IPv4 one, so nothing here holds state per session.
import type { WelcomeIpv6 } from "../protocol/frames.js";
import { ipv4Destination, ipv4Source, isIpv4 } from "../protocol/ip.js";
import { ipv6Destination, ipv6Source, isIpv6 } from "../protocol/ipv6-header.js";
import type { EgressGuard } from "./egress-guard.js";
import type { EgressGuard6, EgressRefusal6 } from "./egress-guard6.js";
import type { AddressPool } from "./pool.js";
import type { Ipv6Address, Ipv6Pool } from "./pool6.js";

/** Why a packet from a laptop was not sent on. */
export type UpstreamDrop = "not_ip" | "no_ipv6" | "spoofed_source" | EgressRefusal6;
/** Why a packet from the TUN found no session. */
export type DownstreamDrop = "not_ip" | "no_session";

/** The prefix length a session's IPv6 address is announced with: one address, the TUN point to point. */
const SESSION_PREFIX_LENGTH6 = 128;

/** A session as this module needs it (exit/session.ts's Session). */
export interface DualStackSession {
  readonly addressInt: number;
}

export interface DualStackOptions<S extends DualStackSession> {
  pool: AddressPool;
  /** The IPv6 pool; undefined: an IPv4-only exit. */
  pool6?: Ipv6Pool | undefined;
  egress?: EgressGuard | undefined;
  egress6?: EgressGuard6 | undefined;
  /** IPv6 DNS servers announced to laptops. */
  dns6?: readonly string[];
  /** The IPv4 session table's lookup (SessionTable.byDestination). */
  byDestination(address: number): S | undefined;
}

export class DualStack<S extends DualStackSession> {
  constructor(private readonly options: DualStackOptions<S>) {}

  /** Whether this exit offers IPv6 at all. */
  get ipv6(): boolean {
    return this.options.pool6 !== undefined;
  }

  /** The session's IPv6 address, or undefined (IPv4-only exit, or past a small prefix's end). */
  address6(session: S): Ipv6Address | undefined {
    return this.options.pool6?.addressFor(this.indexOf(session));
  }

  /** WELCOME's IPv6 block for this session, or undefined: this exit offers it no IPv6. */
  welcome(session: S): WelcomeIpv6 | undefined {
    const address = this.address6(session);
    if (!address) return undefined;
    return {
      address: address.text,
      prefixLength: SESSION_PREFIX_LENGTH6,
      dns: [...(this.options.dns6 ?? [])],
    };
  }

  /** Why this packet from the session's laptop must not go to the TUN, or undefined to send it. */
  upstreamDrop(packet: Uint8Array, session: S): UpstreamDrop | undefined {
    if (isIpv4(packet)) {
      if (ipv4Source(packet) !== session.addressInt) return "spoofed_source";
      return this.options.egress?.check(packet);
    }
    if (isIpv6(packet)) {
      const { pool6 } = this.options;
      const index = this.indexOf(session);
      if (!pool6 || index >= pool6.size) return "no_ipv6";
      if (pool6.indexOf(ipv6Source(packet)) !== index) return "spoofed_source"; // no copy, no allocation
      return this.options.egress6?.check(packet);
    }
    return "not_ip";
  }

  /** The session a packet from the TUN is for, or why there is none. */
  sessionFor(packet: Uint8Array): S | DownstreamDrop {
    if (isIpv4(packet)) return this.options.byDestination(ipv4Destination(packet)) ?? "no_session";
    if (isIpv6(packet)) {
      const { pool, pool6 } = this.options;
      const index = pool6?.indexOf(ipv6Destination(packet));
      if (index === undefined) return "no_session";
      return this.options.byDestination((pool.prefix.network + index) >>> 0) ?? "no_session";
    }
    return "not_ip";
  }

  /** The session's IPv4 host index: its IPv6 address's index too. */
  private indexOf(session: S): number {
    return session.addressInt - this.options.pool.prefix.network;
  }
}
