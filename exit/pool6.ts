// The exit's IPv6 pool: one prefix, by default a unique-local /64 picked at random at start
// (RFC 4193: fd00::/8 and a 40-bit random global id, subnet 0), whose addresses the egress
// masquerades; or a global prefix the operator has routed to this host, handed out untranslated.
// The first address (::1) is the exit's own (its TUN's). A session's IPv6 address is not allocated
// on its own: it is the prefix plus the session's IPv4 host index (10.77.0.5 in 10.77.0.0/16 is
// index 5, so fd..::5), so it is taken and freed with the IPv4 address, and the per-packet lookup
// is a prefix compare, an index, and the IPv4 session table's own Map read.
import { randomBytes } from "node:crypto";
import { formatIpv6, type Ipv6Cidr, parseCidr } from "../protocol/ip.js";
import { PoolError } from "./pool.js";

/** Longest prefix: the anycast address, the exit and two laptops. */
const MAX_PREFIX_LENGTH = 126;
/** Shortest prefix: one /64 is an IPv6 subnet; of a larger routed prefix, give one /64 of it. */
const MIN_PREFIX_LENGTH = 64;
/** Addresses handed out at most: as many as the largest IPv4 pool (/12), so IPv6 never runs out first. */
export const MAX_POOL6_ADDRESSES = 2 ** 20;
/** Where the index lives: the address's last four bytes (bytes 0-11 are the prefix's alone). */
const INDEX_OFFSET = 12;
/** The ULA prefix's length as this exit picks it. */
const ULA_PREFIX_LENGTH = 64;

export interface Ipv6Prefix extends Ipv6Cidr {
  /** The prefix is the operator's, routed here: no masquerade. */
  routed: boolean;
}

/** An IPv6 prefix from /64 to /126. Throws IpError (malformed, host bits, IPv4) or PoolError POOL_SIZE. */
export function parsePrefix6(cidr: string, routed = false): Ipv6Prefix {
  const prefix = parseCidr(cidr, { family: 6 }) as Ipv6Cidr;
  if (prefix.length < MIN_PREFIX_LENGTH || prefix.length > MAX_PREFIX_LENGTH) {
    throw new PoolError(
      "POOL_SIZE",
      `IPv6 pool must be a prefix from /${MIN_PREFIX_LENGTH} to /${MAX_PREFIX_LENGTH}, like fd77:1:2::/64 (of a larger routed prefix, give one /64): ${cidr}`,
    );
  }
  return { ...prefix, routed };
}

/** A fresh unique-local /64 (RFC 4193 section 3.2: a random global id; subnet id 0). */
export function randomUlaPrefix(random: (bytes: number) => Uint8Array = randomBytes): Ipv6Prefix {
  const network = new Uint8Array(16);
  network[0] = 0xfd;
  network.set(random(5).subarray(0, 5), 1);
  return { family: 6, network, length: ULA_PREFIX_LENGTH, routed: false };
}

export interface Ipv6Address {
  /** The address (16 bytes) and its text (RFC 5952). */
  bytes: Uint8Array;
  text: string;
}

export class Ipv6Pool {
  readonly prefix: Ipv6Prefix;
  /** The exit's own address in the prefix (its TUN's), ::1 of it. */
  readonly gateway: string;
  readonly gatewayBytes: Uint8Array;
  /** Indexes this pool covers: 2 (::2) up to size - 1. */
  readonly size: number;
  /** The prefix's own bits in the last 32 (0 unless it is longer than /96). */
  private readonly networkLow: number;

  constructor(prefix: Ipv6Prefix) {
    this.prefix = prefix;
    this.networkLow = u32At(prefix.network, INDEX_OFFSET);
    this.size = Math.min(2 ** (128 - prefix.length), MAX_POOL6_ADDRESSES);
    this.gatewayBytes = this.addressAt(1);
    this.gateway = formatIpv6(this.gatewayBytes);
  }

  /** "fd12:3456:789a::/64" */
  get cidr(): string {
    return `${formatIpv6(this.prefix.network)}/${this.prefix.length}`;
  }

  /**
   * The session address at `index` (the session's IPv4 host index), or undefined past the end of
   * a small prefix (that session gets no IPv6) and for 0 (anycast) and 1 (the exit).
   */
  addressFor(index: number): Ipv6Address | undefined {
    if (!Number.isInteger(index) || index < 2 || index >= this.size) return undefined;
    const bytes = this.addressAt(index);
    return { bytes, text: formatIpv6(bytes) };
  }

  /**
   * The index of `address` (16 bytes, a view into a packet is fine) if it lies in the prefix and
   * in the part this pool hands out, else undefined. The hot path: no allocation.
   */
  indexOf(address: Uint8Array): number | undefined {
    const network = this.prefix.network;
    for (let i = 0; i < INDEX_OFFSET; i++) if (address[i] !== network[i]) return undefined;
    const index = u32At(address, INDEX_OFFSET) - this.networkLow; // a /97../126 keeps prefix bits there
    return index >= 2 && index < this.size ? index : undefined;
  }

  /** Whether the address lies anywhere in the prefix (the egress guard refuses the whole of it). */
  contains(address: Uint8Array): boolean {
    const { network, length } = this.prefix;
    const whole = length >> 3;
    for (let i = 0; i < whole; i++) if (address[i] !== network[i]) return false;
    const rest = length & 7;
    return rest === 0 || ((address[whole]! ^ network[whole]!) & (0xff << (8 - rest)) & 0xff) === 0;
  }

  private addressAt(index: number): Uint8Array {
    const bytes = new Uint8Array(this.prefix.network);
    new DataView(bytes.buffer).setUint32(INDEX_OFFSET, this.networkLow + index);
    return bytes;
  }
}

function u32At(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>>
    0
  );
}
