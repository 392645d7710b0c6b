// IP addresses and prefixes, the one place their text is read and written: what an operator types
// (--dns, --pool, --allow-egress, listen addresses), what a socket reports as its peer, and the
// header fields a packet is routed by. Both families; isomorphic (no Buffer, no node:*).
//
// Parsing is strict, so every side agrees on what an address is: no leading zeros in IPv4 parts
// ("010.1.1.1" is octal to some tools, decimal to others), parts 0..255, prefix lengths written
// without leading zeros and within the family's bits, no host bits set under a prefix, no IPv6
// zone index (it names an interface of one machine, not an address). Every refusal is an IpError
// with a stable code and a message that names the offending text.
//
// IPv4 addresses are unsigned 32-bit numbers (hot paths compare them without strings); IPv6
// addresses are 16 bytes. Text out is the canonical form: dotted decimal, and RFC 5952 for IPv6
// (lowercase, no leading zeros, the longest run of two or more zero groups as "::", the first on a
// tie, and the IPv4-mapped range ::ffff:0:0/96 with a dotted tail).

/** Bits in an address, per family. */
export const IPV4_BITS = 32;
export const IPV6_BITS = 128;
/** Bytes in an IPv6 address. */
export const IPV6_BYTES = 16;
/**
 * Prefix that stands for one IPv6 source in per-source limits, bits: a /64 is the smallest block
 * a subscriber is given (RFC 6177), so a host can pick any address inside it at will.
 */
export const IPV6_SOURCE_PREFIX_LENGTH = 64;

export type IpErrorCode =
  /** Not an address of the family asked for (leading zero, part out of range, bad group...). */
  | "IP_BAD_ADDRESS"
  /** The prefix length is missing, not a plain number, or longer than the family's bits. */
  | "IP_BAD_PREFIX"
  /** A prefix whose address has bits set past its length: 10.0.0.1/8 (meant 10.0.0.0/8?). */
  | "IP_HOST_BITS"
  /** A well-formed address or prefix of the other family than the one the caller takes. */
  | "IP_WRONG_FAMILY";

export class IpError extends Error {
  override name = "IpError";
  constructor(
    readonly code: IpErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export type IpFamily = 4 | 6;
export type IpAddress = { family: 4; value: number } | { family: 6; bytes: Uint8Array };

export interface Ipv4Cidr {
  family: 4;
  /** Network address as an unsigned 32-bit number (no host bits). */
  network: number;
  /** Netmask as an unsigned 32-bit number. */
  mask: number;
  length: number;
}

export interface Ipv6Cidr {
  family: 6;
  /** Network address, 16 bytes (no host bits). */
  network: Uint8Array;
  length: number;
}

export type Cidr = Ipv4Cidr | Ipv6Cidr;

const show = (text: unknown) => JSON.stringify(String(text));

// ---------------------------------------------------------------------------------------------
// IPv4

const DECIMAL_PART = /^(?:0|[1-9][0-9]*)$/;

/** The number for `text`, or the reason it is not an IPv4 address. */
function readIpv4(text: string): number | string {
  const parts = text.split(".");
  if (parts.length !== 4) return "four parts wanted, like 192.168.1.2";
  let value = 0;
  for (const part of parts) {
    if (part === "") return "empty part";
    if (!/^[0-9]+$/.test(part)) return `part ${show(part)} is not a decimal number`;
    if (!DECIMAL_PART.test(part)) return `part ${show(part)} has a leading zero`;
    if (part.length > 3 || Number(part) > 255) return `part ${part} is over 255`;
    value = value * 256 + Number(part);
  }
  return value;
}

/** The IPv4 address as an unsigned 32-bit number, or undefined when `text` is not one. */
export function tryParseIpv4(text: string): number | undefined {
  if (typeof text !== "string") return undefined;
  const value = readIpv4(text);
  return typeof value === "number" ? value : undefined;
}

/** The IPv4 address as an unsigned 32-bit number. Throws IpError IP_BAD_ADDRESS. */
export function parseIpv4(text: string): number {
  if (typeof text !== "string") throw new IpError("IP_BAD_ADDRESS", `not an IPv4 address: ${show(text)}`);
  const value = readIpv4(text);
  if (typeof value === "string") {
    const code = isIpv6Address(text) ? "IP_WRONG_FAMILY" : "IP_BAD_ADDRESS";
    throw new IpError(
      code,
      `not an IPv4 address: ${show(text)} (${code === "IP_WRONG_FAMILY" ? "an IPv6 one" : value})`,
    );
  }
  return value;
}

export function isIpv4Address(text: string): boolean {
  return tryParseIpv4(text) !== undefined;
}

/** Dotted decimal of an unsigned 32-bit number. */
export function formatIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/** The netmask of an IPv4 prefix length (0..32) as an unsigned 32-bit number. */
export function ipv4Mask(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (IPV4_BITS - length)) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// IPv6

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** The 16 bytes for `text`, or the reason it is not an IPv6 address. */
function readIpv6(text: string): Uint8Array | string {
  if (text.includes("%")) return "zone index (%...) not allowed";
  const halves = text.split("::");
  if (halves.length > 2) return 'more than one "::"';
  const groups: number[][] = [];
  for (const [h, half] of halves.entries()) {
    const parts = half === "" ? [] : half.split(":");
    const values: number[] = [];
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const last = h === halves.length - 1 && i === parts.length - 1;
      if (last && part.includes(".")) {
        const v4 = readIpv4(part);
        if (typeof v4 === "string") return `IPv4 tail ${show(part)}: ${v4}`;
        values.push(v4 >>> 16, v4 & 0xffff);
      } else if (!HEX_GROUP.test(part)) {
        return part === "" ? "empty group" : `group ${show(part)} is not 1 to 4 hex digits`;
      } else {
        values.push(Number.parseInt(part, 16));
      }
    }
    groups.push(values);
  }
  const [head = [], tail = []] = groups;
  const explicit = head.length + tail.length;
  if (halves.length === 1 ? explicit !== 8 : explicit > 7) {
    return `${explicit} groups, ${halves.length === 1 ? "8" : 'at most 7 beside "::"'} wanted`;
  }
  const all = [...head, ...new Array<number>(8 - explicit).fill(0), ...tail];
  const bytes = new Uint8Array(IPV6_BYTES);
  all.forEach((group, i) => {
    bytes[2 * i] = group >> 8;
    bytes[2 * i + 1] = group & 255;
  });
  return bytes;
}

/** The 16 bytes of the IPv6 address, or undefined when `text` is not one. */
export function tryParseIpv6(text: string): Uint8Array | undefined {
  if (typeof text !== "string") return undefined;
  const bytes = readIpv6(text);
  return typeof bytes === "string" ? undefined : bytes;
}

/** The 16 bytes of the IPv6 address. Throws IpError IP_BAD_ADDRESS (IP_WRONG_FAMILY for IPv4). */
export function parseIpv6(text: string): Uint8Array {
  if (typeof text !== "string") throw new IpError("IP_BAD_ADDRESS", `not an IPv6 address: ${show(text)}`);
  const bytes = readIpv6(text);
  if (typeof bytes === "string") {
    if (isIpv4Address(text))
      throw new IpError("IP_WRONG_FAMILY", `not an IPv6 address: ${show(text)} (an IPv4 one)`);
    throw new IpError("IP_BAD_ADDRESS", `not an IPv6 address: ${show(text)} (${bytes})`);
  }
  return bytes;
}

export function isIpv6Address(text: string): boolean {
  return tryParseIpv6(text) !== undefined;
}

/** True for ::ffff:a.b.c.d, how a dual-stack socket reports an IPv4 peer. */
export function isIpv4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/** RFC 5952 text of 16 bytes. */
export function formatIpv6(bytes: Uint8Array): string {
  if (isIpv4Mapped(bytes)) {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  // The longest run of zero groups, two or more long; the first of equal runs.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let end = i;
    while (end < 8 && groups[end] === 0) end++;
    if (end - i > bestLength) {
      bestStart = i;
      bestLength = end - i;
    }
    i = end;
  }
  const hex = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(":");
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

// ---------------------------------------------------------------------------------------------
// Either family

/** An address of either family. Throws IpError IP_BAD_ADDRESS. */
export function parseIp(text: string): IpAddress {
  if (typeof text === "string" && text.includes(":")) {
    const bytes = readIpv6(text);
    if (typeof bytes === "string")
      throw new IpError("IP_BAD_ADDRESS", `not an IP address: ${show(text)} (${bytes})`);
    return { family: 6, bytes };
  }
  if (typeof text !== "string") throw new IpError("IP_BAD_ADDRESS", `not an IP address: ${show(text)}`);
  const value = readIpv4(text);
  if (typeof value === "string")
    throw new IpError("IP_BAD_ADDRESS", `not an IP address: ${show(text)} (${value})`);
  return { family: 4, value };
}

export function tryParseIp(text: string): IpAddress | undefined {
  try {
    return parseIp(text);
  } catch {
    return undefined;
  }
}

export function isIpAddress(text: string): boolean {
  return tryParseIp(text) !== undefined;
}

export function formatIp(address: IpAddress): string {
  return address.family === 4 ? formatIpv4(address.value) : formatIpv6(address.bytes);
}

/** An IPv4-mapped IPv6 address as the IPv4 address it stands for; anything else as it is. */
export function unmapIpv4(address: IpAddress): IpAddress {
  if (address.family === 6 && isIpv4Mapped(address.bytes)) {
    const b = address.bytes;
    return { family: 4, value: ((b[12]! << 24) | (b[13]! << 16) | (b[14]! << 8) | b[15]!) >>> 0 };
  }
  return address;
}

// ---------------------------------------------------------------------------------------------
// Prefixes (CIDR)

export interface CidrOptions {
  /** Take a bare address as a host prefix (/32, /128). Default: a prefix length is required. */
  bareAddress?: boolean;
  /** Only this family; the other is refused with IP_WRONG_FAMILY. */
  family?: IpFamily;
}

function readPrefixLength(text: string, cidr: string, bits: number): number {
  if (!DECIMAL_PART.test(text) || Number(text) > bits) {
    throw new IpError(
      "IP_BAD_PREFIX",
      `bad prefix length in ${show(cidr)}: /${text}, allowed /0 to /${bits}`,
    );
  }
  return Number(text);
}

/** `address/length` (or a bare address with `bareAddress`). Throws IpError. */
export function parseCidr(text: string, options: CidrOptions = {}): Cidr {
  if (typeof text !== "string") throw new IpError("IP_BAD_ADDRESS", `not a prefix: ${show(text)}`);
  const slash = text.indexOf("/");
  const addressText = slash < 0 ? text : text.slice(0, slash);
  if (slash < 0 && !options.bareAddress) {
    throw new IpError("IP_BAD_PREFIX", `no prefix length in ${show(text)}, like 10.77.0.0/16`);
  }
  const address = parseIp(addressText);
  if (options.family !== undefined && address.family !== options.family) {
    throw new IpError(
      "IP_WRONG_FAMILY",
      `${show(text)} is IPv${address.family}, an IPv${options.family} prefix is wanted here`,
    );
  }
  if (address.family === 4) {
    const length = slash < 0 ? IPV4_BITS : readPrefixLength(text.slice(slash + 1), text, IPV4_BITS);
    const mask = ipv4Mask(length);
    const network = (address.value & mask) >>> 0;
    if (network !== address.value) {
      throw new IpError(
        "IP_HOST_BITS",
        `${show(text)} has host bits set; the prefix is ${formatIpv4(network)}/${length}`,
      );
    }
    return { family: 4, network, mask, length };
  }
  const length = slash < 0 ? IPV6_BITS : readPrefixLength(text.slice(slash + 1), text, IPV6_BITS);
  const network = ipv6Network(address.bytes, length);
  if (!sameBytes(network, address.bytes)) {
    throw new IpError(
      "IP_HOST_BITS",
      `${show(text)} has host bits set; the prefix is ${formatIpv6(network)}/${length}`,
    );
  }
  return { family: 6, network, length };
}

/** An IPv4 prefix (refuses IPv6 with IP_WRONG_FAMILY). */
export function parseIpv4Cidr(text: string, options: Omit<CidrOptions, "family"> = {}): Ipv4Cidr {
  return parseCidr(text, { ...options, family: 4 }) as Ipv4Cidr;
}

/** A comma-separated list of prefixes (spaces around commas allowed, empty items skipped). */
export function parseCidrList(text: string, options: CidrOptions = {}): Cidr[] {
  return text
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => parseCidr(part, options));
}

/** A comma-separated list of IPv4 prefixes. */
export function parseIpv4CidrList(text: string, options: Omit<CidrOptions, "family"> = {}): Ipv4Cidr[] {
  return parseCidrList(text, { ...options, family: 4 }) as Ipv4Cidr[];
}

/** `bytes` with every bit past `length` cleared (a fresh array). */
export function ipv6Network(bytes: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(IPV6_BYTES);
  const whole = length >> 3;
  out.set(bytes.subarray(0, whole));
  if (whole < IPV6_BYTES && length & 7) out[whole] = bytes[whole]! & (0xff << (8 - (length & 7)));
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether an IPv4 address (unsigned 32-bit) lies in the prefix: the hot-path form. */
export function ipv4CidrContains(cidr: Ipv4Cidr, address: number): boolean {
  return (address & cidr.mask) >>> 0 === cidr.network;
}

/** Whether the address lies in the prefix; an address of the other family never does. */
export function cidrContains(cidr: Cidr, address: IpAddress): boolean {
  if (cidr.family === 4) return address.family === 4 && ipv4CidrContains(cidr, address.value);
  if (address.family !== 6) return false;
  const whole = cidr.length >> 3;
  for (let i = 0; i < whole; i++) if (address.bytes[i] !== cidr.network[i]) return false;
  const rest = cidr.length & 7;
  if (rest === 0) return true;
  const mask = 0xff << (8 - rest);
  return (address.bytes[whole]! & mask & 0xff) === cidr.network[whole];
}

export function formatCidr(cidr: Cidr): string {
  return `${cidr.family === 4 ? formatIpv4(cidr.network) : formatIpv6(cidr.network)}/${cidr.length}`;
}

/**
 * The key per-source limits count a peer under, from a socket's remote address: an IPv4 address
 * (an IPv4-mapped one unmapped) as itself, an IPv6 address as its /64 (one subscriber can use
 * all of it). A zone index (fe80::1%eth0, as Node reports link-local peers) is dropped. Undefined
 * for anything that is not an address (a socket already gone reports none).
 */
export function sourceKey(remote: string | undefined): string | undefined {
  if (typeof remote !== "string") return undefined;
  const zone = remote.indexOf("%");
  const address = tryParseIp(zone < 0 ? remote : remote.slice(0, zone));
  if (address === undefined) return undefined;
  const plain = unmapIpv4(address);
  if (plain.family === 4) return formatIpv4(plain.value);
  const network = ipv6Network(plain.bytes, IPV6_SOURCE_PREFIX_LENGTH);
  return `${formatIpv6(network)}/${IPV6_SOURCE_PREFIX_LENGTH}`;
}

// ---------------------------------------------------------------------------------------------
// Packet headers: the few fields the tunnel ends route and check packets by.

/** Smallest IPv4 header, bytes. */
export const IPV4_MIN_HEADER_BYTES = 20;

/** The version nibble of a packet (4, 6, or whatever a peer sent), 0 for an empty one. */
export function ipVersion(packet: Uint8Array): number {
  return packet.length > 0 ? packet[0]! >> 4 : 0;
}

function u32At(packet: Uint8Array, offset: number): number {
  return (
    ((packet[offset]! << 24) |
      (packet[offset + 1]! << 16) |
      (packet[offset + 2]! << 8) |
      packet[offset + 3]!) >>>
    0
  );
}

/** True for a packet long enough to hold an IPv4 header whose version nibble is 4. */
export function isIpv4(packet: Uint8Array): boolean {
  return packet.length >= IPV4_MIN_HEADER_BYTES && packet[0]! >> 4 === 4;
}

/** Source address of an IPv4 packet (checked with isIpv4) as an unsigned 32-bit number. */
export function ipv4Source(packet: Uint8Array): number {
  return u32At(packet, 12);
}

/** Destination address of an IPv4 packet (checked with isIpv4) as an unsigned 32-bit number. */
export function ipv4Destination(packet: Uint8Array): number {
  return u32At(packet, 16);
}
