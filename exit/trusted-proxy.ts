// Who may say where a connection really comes from. Behind a reverse proxy every client arrives
// from the proxy's address, so per-source limits (exit/limits.ts) and logs would lump them all
// together: one bad HELLO every few seconds would keep every proxied laptop rate-limited. From
// the configured proxies only (--trusted-proxy CIDR,...), the client's address is taken from
//
//   - the PROXY protocol header (HAProxy's, v1 text or v2 binary) at the start of the TCP
//     connection, before TLS: what a TCP proxy (HAProxy `send-proxy`, nginx `proxy_protocol`) sends;
//   - else X-Forwarded-For, its right-most entry that is not itself a trusted proxy: what an HTTP
//     proxy that terminates TLS appends (entries further left are the client's own say).
//
// From anybody else neither is read: a client could name any address. Pure; the server applies it.
import {
  type Cidr,
  cidrContains,
  formatIpv4,
  formatIpv6,
  type IpAddress,
  tryParseIp,
  unmapIpv4,
} from "../protocol/ip.js";

/** A v1 header is at most this long, CRLF included (the specification's bound). */
export const PROXY_V1_MAX_BYTES = 107;
/** A v2 header we read at most, bytes: the 16-byte start and addresses, with room for a few TLVs. */
export const PROXY_V2_MAX_BYTES = 512;
/** A trusted proxy's PROXY header must be in this soon after it connects, ms. */
export const PROXY_HEADER_TIMEOUT_MS = 5_000;

const V1_PREFIX = new TextEncoder().encode("PROXY ");
const V2_SIGNATURE = new Uint8Array([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_HEADER_BYTES = 16;
const V2_COMMAND_LOCAL = 0x20;
const V2_COMMAND_PROXY = 0x21;
const V2_TCP4 = 0x11;
const V2_TCP6 = 0x21;

/** What the start of a trusted proxy's connection says. */
export type ProxyHeader =
  /** Not enough bytes yet to tell or to read it whole. */
  | { kind: "incomplete" }
  /** No PROXY header: the connection's own bytes start here (an HTTP proxy, X-Forwarded-For). */
  | { kind: "none" }
  /** A header of `bytes` bytes; `source` the client's address, undefined for LOCAL/UNKNOWN (the proxy's own). */
  | { kind: "header"; bytes: number; source: string | undefined }
  /** A header that is not one: the connection is cut. */
  | { kind: "malformed"; why: string };

function startsWith(data: Uint8Array, prefix: Uint8Array): boolean | undefined {
  const n = Math.min(data.length, prefix.length);
  for (let i = 0; i < n; i++) if (data[i] !== prefix[i]) return false;
  return data.length >= prefix.length ? true : undefined;
}

function readV1(data: Uint8Array): ProxyHeader {
  const end = data.indexOf(0x0a);
  if (end < 0) {
    return data.length >= PROXY_V1_MAX_BYTES
      ? { kind: "malformed", why: "v1 header too long" }
      : { kind: "incomplete" };
  }
  if (end + 1 > PROXY_V1_MAX_BYTES || data[end - 1] !== 0x0d)
    return { kind: "malformed", why: "v1 header not ended by CRLF" };
  const line = new TextDecoder().decode(data.subarray(0, end - 1));
  const fields = line.split(" ");
  if (fields[1] === "UNKNOWN") return { kind: "header", bytes: end + 1, source: undefined };
  const [, family, source, destination, sourcePort, destinationPort] = fields;
  const parsed = source === undefined ? undefined : tryParseIp(source);
  const wanted = family === "TCP4" ? 4 : family === "TCP6" ? 6 : undefined;
  if (
    fields.length !== 6 ||
    wanted === undefined ||
    parsed?.family !== wanted ||
    tryParseIp(destination ?? "")?.family !== wanted ||
    !isPort(sourcePort) ||
    !isPort(destinationPort)
  )
    return { kind: "malformed", why: "v1 header fields" };
  return { kind: "header", bytes: end + 1, source: plain(parsed) };
}

function isPort(text: string | undefined): boolean {
  return text !== undefined && /^(0|[1-9]\d{0,4})$/.test(text) && Number(text) <= 65535;
}

function readV2(data: Uint8Array): ProxyHeader {
  if (data.length < V2_HEADER_BYTES) return { kind: "incomplete" };
  const command = data[12]!;
  const family = data[13]!;
  const length = (data[14]! << 8) | data[15]!;
  const bytes = V2_HEADER_BYTES + length;
  if (command !== V2_COMMAND_LOCAL && command !== V2_COMMAND_PROXY)
    return { kind: "malformed", why: "v2 version or command" };
  if (bytes > PROXY_V2_MAX_BYTES) return { kind: "malformed", why: "v2 header too long" };
  if (data.length < bytes) return { kind: "incomplete" };
  if (command === V2_COMMAND_LOCAL) return { kind: "header", bytes, source: undefined }; // the proxy's own (a health check)
  const at = V2_HEADER_BYTES;
  if (family === V2_TCP4) {
    if (length < 12) return { kind: "malformed", why: "v2 IPv4 addresses truncated" };
    const value = ((data[at]! << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!) >>> 0;
    return { kind: "header", bytes, source: formatIpv4(value) };
  }
  if (family === V2_TCP6) {
    if (length < 36) return { kind: "malformed", why: "v2 IPv6 addresses truncated" };
    return { kind: "header", bytes, source: plain({ family: 6, bytes: data.slice(at, at + 16) }) };
  }
  return { kind: "header", bytes, source: undefined }; // UDP, unix sockets, unspecified: not a source we count
}

/** The start of a trusted proxy's connection: a PROXY header (v1 or v2), none, or not enough yet. */
export function readProxyHeader(data: Uint8Array): ProxyHeader {
  const v1 = startsWith(data, V1_PREFIX);
  if (v1) return readV1(data);
  const v2 = startsWith(data, V2_SIGNATURE);
  if (v2) return readV2(data);
  if (v1 === undefined || v2 === undefined) return { kind: "incomplete" };
  return { kind: "none" };
}

/** An address as the limits and logs read it: IPv4-mapped IPv6 as IPv4. */
function plain(address: IpAddress): string {
  const unmapped = unmapIpv4(address);
  return unmapped.family === 4 ? formatIpv4(unmapped.value) : formatIpv6(unmapped.bytes);
}

/** One X-Forwarded-For entry as an address: a bare address, [v6]:port or v4:port; undefined if not one. */
function forwardedAddress(entry: string): IpAddress | undefined {
  const text = entry.trim();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(text);
  if (bracketed) return tryParseIp(bracketed[1]!);
  const v4WithPort = /^(\d+\.\d+\.\d+\.\d+):\d{1,5}$/.exec(text);
  return tryParseIp(v4WithPort ? v4WithPort[1]! : text);
}

export class TrustedProxies {
  constructor(private readonly cidrs: readonly Cidr[] = []) {}

  /** Whether any proxy is trusted at all (otherwise nothing is ever read). */
  get configured(): boolean {
    return this.cidrs.length > 0;
  }

  /** Whether a peer at `address` is one of the trusted proxies. */
  trusts(address: string | undefined): boolean {
    if (!this.configured || address === undefined) return false;
    const parsed = tryParseIp(address);
    return parsed !== undefined && this.containsAddress(parsed);
  }

  /**
   * The client behind a trusted proxy at `peer`, from X-Forwarded-For (as Node gives it: several
   * headers joined by commas): the right-most entry that is not a trusted proxy. An entry that is
   * not an address ends the walk there (what is left of it cannot be believed): the last trusted
   * hop is the source then, as when there is no header at all.
   */
  forwardedFor(header: string | string[] | undefined, peer: string): string {
    const entries = (Array.isArray(header) ? header.join(",") : (header ?? "")).split(",");
    let source = peer;
    for (let i = entries.length - 1; i >= 0; i--) {
      if (entries[i]!.trim() === "" && entries.length === 1) break;
      const address = forwardedAddress(entries[i]!);
      if (!address) break;
      source = plain(address);
      if (!this.containsAddress(address)) break;
    }
    return source;
  }

  private containsAddress(address: IpAddress): boolean {
    const unmapped = unmapIpv4(address);
    return this.cidrs.some((cidr) => cidrContains(cidr, unmapped) || cidrContains(cidr, address));
  }
}
