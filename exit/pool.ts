// The exit's address pool: one IPv4 prefix; the first host address is the exit's own (its TUN),
// the rest are handed to sessions in turn, so a freed address is not handed out again at once.

import { intToIpv4, ipv4ToInt } from "../protocol/ipv4.js";

export class PoolError extends Error {
  override name = "PoolError";
}

export interface Prefix {
  /** Network address as a 32-bit unsigned integer. */
  network: number;
  length: number;
}

/** Smallest pool that leaves room for the exit and one laptop. */
const MAX_PREFIX_LENGTH = 30;
/** Largest pool: a /8 would mean a 16M-entry bitmap of nothing. */
const MIN_PREFIX_LENGTH = 12;

export function parsePrefix(cidr: string): Prefix {
  const [address, lengthText] = cidr.split("/");
  const length = Number(lengthText);
  if (!address || !Number.isInteger(length) || length < MIN_PREFIX_LENGTH || length > MAX_PREFIX_LENGTH) {
    throw new PoolError(
      `pool must be an IPv4 prefix from /${MIN_PREFIX_LENGTH} to /${MAX_PREFIX_LENGTH}, like 10.77.0.0/16: ${cidr}`,
    );
  }
  const mask = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
  const value = ipv4ToInt(address);
  if (value === undefined) throw new PoolError(`not an IPv4 address: ${address}`);
  return { network: (value & mask) >>> 0, length };
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
    this.gateway = intToIpv4(this.prefix.network + 1);
  }

  /** Hands out a free address, or undefined when none is left. */
  allocate(): string | undefined {
    for (let tried = 0; tried < this.size; tried++) {
      const index = this.next;
      this.next = this.next + 1 >= this.size ? 2 : this.next + 1;
      if (!this.used[index]) {
        this.used[index] = 1;
        return intToIpv4(this.prefix.network + index);
      }
    }
    return undefined;
  }

  release(address: string): void {
    const index = (ipv4ToInt(address) ?? 0) - this.prefix.network;
    if (index > 1 && index < this.size - 1) this.used[index] = 0;
  }

  contains(address: string): boolean {
    const index = (ipv4ToInt(address) ?? -1) - this.prefix.network;
    return index >= 0 && index < this.size;
  }

  get available(): number {
    let free = 0;
    for (const taken of this.used) if (!taken) free++;
    return free;
  }
}
