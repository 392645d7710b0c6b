// Whether this exit offers IPv6, and from which prefix: decided once at start from its options.
// A random unique-local /64 unless the operator gives a prefix (--pool6) or turns IPv6 off
// (--pool6 off); never with a tunnel MTU under IPv6's 1280 (the kernel would not even put an IPv6
// address on such a TUN). Nat may still turn it off later (a host without IPv6 forwarding).
import { IPV6_MIN_MTU } from "../protocol/ipv6-header.js";
import { Ipv6Pool, parsePrefix6, randomUlaPrefix } from "./pool6.js";

/** --pool6's value that makes an IPv4-only exit. */
export const POOL6_OFF = "off";

export interface Ipv6PlanOptions {
  /** A prefix, POOL6_OFF, or undefined for a random unique-local /64. */
  pool6?: string | undefined;
  /** The prefix is routed to this host: no masquerade. */
  pool6Routed?: boolean | undefined;
  mtu: number;
}

export type Ipv6Plan = { pool: Ipv6Pool; routed: boolean } | { off: string };

/** The IPv6 pool, or why there is none. Throws IpError / PoolError for a bad --pool6 (the CLI checked it). */
export function planIpv6(options: Ipv6PlanOptions): Ipv6Plan {
  if (options.pool6 === POOL6_OFF) return { off: "--pool6 off" };
  if (options.mtu < IPV6_MIN_MTU)
    return { off: `--mtu ${options.mtu} is under IPv6's minimum of ${IPV6_MIN_MTU}` };
  const routed = options.pool6 !== undefined && options.pool6Routed === true;
  const prefix = options.pool6 === undefined ? randomUlaPrefix() : parsePrefix6(options.pool6, routed);
  return { pool: new Ipv6Pool(prefix), routed };
}
