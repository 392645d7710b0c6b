// The exit's address pool: one IPv4 prefix; the first host address is the exit's own (its TUN),
// the rest are handed to sessions in turn, so a freed address is not handed out again at once.

import { formatIpv4, type Ipv4Cidr, parseIpv4Cidr, tryParseIpv4 } from "../protocol/ip.js";

export type PoolErrorCode = "POOL_SIZE";

/** A pool prefix that is well formed (protocol/ip.ts checked it) but too small or too large. */
export class PoolError extends Error {
  override name = "PoolError";
  constructor(
    readonly code: PoolErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export type Prefix = Ipv4Cidr;

/** Smallest pool that leaves room for the exit and one laptop. */
const MAX_PREFIX_LENGTH = 30;
/** Largest pool: a /8 would mean a 16M-entry bitmap of nothing. */
const MIN_PREFIX_LENGTH = 12;

/** An IPv4 prefix from /12 to /30. Throws IpError (malformed, host bits set) or PoolError POOL_SIZE. */
export function parsePrefix(cidr: string): Prefix {
  const prefix = parseIpv4Cidr(cidr);
  if (prefix.length < MIN_PREFIX_LENGTH || prefix.length > MAX_PREFIX_LENGTH) {
    throw new PoolError(
      "POOL_SIZE",
      `pool must be an IPv4 prefix from /${MIN_PREFIX_LENGTH} to /${MAX_PREFIX_LENGTH}, like 10.77.0.0/16: ${cidr}`,
    );
  }
  return prefix;
}

export class AddressPool {
  readonly prefix: Prefix;
  /** The exit's own address in the pool (its TUN's). */
  readonly gateway: string;
  private readonly used: Uint8Array;
  private readonly size: number;
  private next = 2;

  constructor(cidr: string) {
    this.prefix = parsePrefix(cidr);
    this.size = 2 ** (32 - this.prefix.length);
    this.used = new Uint8Array(this.size);
    this.used[0] = 1; // network address
    this.used[1] = 1; // the exit
    this.used[this.size - 1] = 1; // broadcast
    this.gateway = formatIpv4(this.prefix.network + 1);
  }

  /** Hands out a free address, or undefined when none is left. */
  allocate(): string | undefined {
    for (let tried = 0; tried < this.size; tried++) {
      const index = this.next;
      this.next = this.next + 1 >= this.size ? 2 : this.next + 1;
      if (!this.used[index]) {
        this.used[index] = 1;
        return formatIpv4(this.prefix.network + index);
      }
    }
    return undefined;
  }

  release(address: string): void {
    const index = (tryParseIpv4(address) ?? 0) - this.prefix.network;
    if (index > 1 && index < this.size - 1) this.used[index] = 0;
  }

  contains(address: string): boolean {
    const index = (tryParseIpv4(address) ?? -1) - this.prefix.network;
    return index >= 0 && index < this.size;
  }

  get available(): number {
    let free = 0;
    for (const taken of this.used) if (!taken) free++;
    return free;
  }
}
