// The egress guard's IPv6 half (exit/egress-guard.ts is the IPv4 one, and says why there is a
// guard at all). By default a laptop may reach global unicast (2000::/3) only, and not all of it:
//
//   the exit's own addresses        egress_own_address   (every interface's, its TUN's, --public-address)
//   the IPv6 pool                   egress_pool          (the other laptops)
//   --deny-egress CIDR,...          egress_denied
//   fc00::/7                        egress_private       (unique local: the IPv6 private ranges)
//   ::1                             egress_loopback
//   fe80::/10, fec0::/10            egress_link_local    (link-local, the old site-local)
//   ff00::/8                        egress_multicast
//   ::ffff:0:0/96, ::/96,           egress_ipv4_mapped   (an IPv4 address inside an IPv6 one:
//     64:ff9b::/96, 64:ff9b:1::/48,                        IPv4-mapped, -compatible, NAT64, 6to4
//     2002::/16                                            would reach IPv4 around the IPv4 guard)
//   2001:db8::/32, 3fff::/20        egress_documentation (never on the internet: someone's private use)
//   2001::/23, 100::/64, 5f00::/16  egress_reserved      (IETF assignments: Teredo, benchmarking,
//                                                         ORCHID; discard; SRv6 SIDs)
//   ::, and anything else outside 2000::/3   egress_reserved
//
// The same order as IPv4: the announced DNS servers on port 53; then own, pool and deny, which
// nothing opens; then --allow-egress, which opens the default ranges below it.
//
// Pure: `check` looks at one packet against tables built once; the caller counts the verdict.
import { networkInterfaces } from "node:os";
import { type Ipv6Cidr, parseCidr, tryParseIpv6 } from "../protocol/ip.js";
import { ipv6Destination, ipv6NextHeader } from "../protocol/ipv6-header.js";
import type { EgressRefusal } from "./egress-guard.js";

/** The IPv6 refusals: IPv4's reasons, and two that IPv4 has no ranges for. */
export type EgressRefusal6 = EgressRefusal | "egress_ipv4_mapped" | "egress_documentation";

/** The ranges refused by default, each with the reason it is counted under. */
export const REFUSED_RANGES6: readonly { cidr: string; reason: EgressRefusal6 }[] = [
  { cidr: "::/128", reason: "egress_reserved" },
  { cidr: "::1/128", reason: "egress_loopback" },
  { cidr: "::ffff:0:0/96", reason: "egress_ipv4_mapped" },
  { cidr: "::/96", reason: "egress_ipv4_mapped" },
  { cidr: "64:ff9b::/96", reason: "egress_ipv4_mapped" },
  { cidr: "64:ff9b:1::/48", reason: "egress_ipv4_mapped" },
  { cidr: "100::/64", reason: "egress_reserved" },
  { cidr: "2001::/23", reason: "egress_reserved" },
  { cidr: "2001:db8::/32", reason: "egress_documentation" },
  { cidr: "2002::/16", reason: "egress_ipv4_mapped" },
  { cidr: "3fff::/20", reason: "egress_documentation" },
  { cidr: "5f00::/16", reason: "egress_reserved" },
  { cidr: "fc00::/7", reason: "egress_private" },
  { cidr: "fe80::/10", reason: "egress_link_local" },
  { cidr: "fec0::/10", reason: "egress_link_local" },
  { cidr: "ff00::/8", reason: "egress_multicast" },
];

/** Global unicast: what is not in it is refused whatever no range above says. */
const GLOBAL_UNICAST = parseCidr("2000::/3") as Ipv6Cidr;

const DNS_PORT = 53;
const NEXT_HEADER_TCP = 6;
const NEXT_HEADER_UDP = 17;
/** Where a TCP/UDP header's destination port sits when no extension header comes first. */
const DESTINATION_PORT_OFFSET = 40 + 2;

interface Range extends Ipv6Cidr {
  reason: EgressRefusal6;
}

/** Whether `address` (16 bytes, a view into a packet is fine) lies in `cidr`. No allocation. */
export function ipv6CidrContains(cidr: Ipv6Cidr, address: Uint8Array): boolean {
  const whole = cidr.length >> 3;
  for (let i = 0; i < whole; i++) if (address[i] !== cidr.network[i]) return false;
  const rest = cidr.length & 7;
  return rest === 0 || ((address[whole]! ^ cidr.network[whole]!) & (0xff << (8 - rest)) & 0xff) === 0;
}

/**
 * The refused ranges by first byte, longest prefix first (::1 before ::/96, 2001:db8::/32 before
 * 2001::/23), so most destinations cost one array read and a short loop.
 */
function buildTable(): Range[][] {
  const table: Range[][] = Array.from({ length: 256 }, () => []);
  const ranges = REFUSED_RANGES6.map(({ cidr, reason }) => ({ ...(parseCidr(cidr) as Ipv6Cidr), reason }));
  ranges.sort((a, b) => b.length - a.length);
  for (const range of ranges) {
    const span = range.length >= 8 ? 1 : 2 ** (8 - range.length);
    const first = range.network[0]!;
    for (let byte = first; byte < first + span; byte++) table[byte]!.push(range);
  }
  return table;
}

const REFUSED_BY_FIRST_BYTE = buildTable();

/** The refusal for a destination by the default ranges alone, or undefined. */
export function refusedRange6(destination: Uint8Array): EgressRefusal6 | undefined {
  for (const range of REFUSED_BY_FIRST_BYTE[destination[0]!]!) {
    if (ipv6CidrContains(range, destination)) return range.reason;
  }
  return ipv6CidrContains(GLOBAL_UNICAST, destination) ? undefined : "egress_reserved";
}

export interface EgressGuard6Options {
  /** The exit's own IPv6 addresses (every interface's and its TUN's); zones (%eth0) are ignored. */
  ownAddresses: readonly string[];
  /** Addresses the exit is reached at but has on no interface: as own. */
  publicAddresses?: readonly string[];
  /** The laptops' IPv6 prefix: one laptop never reaches another through the exit. */
  pool?: Ipv6Cidr;
  /** Refused whatever the allow-list says (--deny-egress, its IPv6 entries). */
  deny?: readonly Ipv6Cidr[];
  /** Default-refused destinations allowed all the same (--allow-egress, its IPv6 entries). */
  allow?: readonly Ipv6Cidr[];
  /** IPv6 DNS servers announced to laptops: reachable on port 53 even inside a refused range. */
  dnsServers?: readonly string[];
}

function toAddresses(texts: readonly string[]): Uint8Array[] {
  const found: Uint8Array[] = [];
  for (const text of texts) {
    const zone = text.indexOf("%");
    const bytes = tryParseIpv6(zone < 0 ? text : text.slice(0, zone));
    if (bytes !== undefined) found.push(bytes);
  }
  return found;
}

function listed(addresses: readonly Uint8Array[], address: Uint8Array): boolean {
  outer: for (const candidate of addresses) {
    for (let i = 0; i < 16; i++) if (candidate[i] !== address[i]) continue outer;
    return true;
  }
  return false;
}

export class EgressGuard6 {
  private own: Uint8Array[];
  private readonly public: readonly string[];
  private readonly pool: Ipv6Cidr | undefined;
  private readonly deny: readonly Ipv6Cidr[];
  private readonly allow: readonly Ipv6Cidr[];
  private readonly dns: Uint8Array[];

  constructor(options: EgressGuard6Options) {
    this.public = options.publicAddresses ?? [];
    this.own = toAddresses([...options.ownAddresses, ...this.public]);
    this.pool = options.pool;
    this.deny = options.deny ?? [];
    this.allow = options.allow ?? [];
    this.dns = toAddresses(options.dnsServers ?? []);
  }

  /** The exit's addresses changed (an interface came up, SLAAC renewed); public ones stay. */
  setOwnAddresses(addresses: readonly string[]): void {
    this.own = toAddresses([...addresses, ...this.public]);
  }

  /** Why this IPv6 packet (already checked with isIpv6) must not leave, or undefined to send it. */
  check(packet: Uint8Array): EgressRefusal6 | undefined {
    const destination = ipv6Destination(packet);
    if (this.dns.length && listed(this.dns, destination) && isDnsPacket(packet)) return undefined;
    if (listed(this.own, destination)) return "egress_own_address";
    if (this.pool && ipv6CidrContains(this.pool, destination)) return "egress_pool";
    for (const cidr of this.deny) if (ipv6CidrContains(cidr, destination)) return "egress_denied";
    for (const cidr of this.allow) if (ipv6CidrContains(cidr, destination)) return undefined;
    return refusedRange6(destination);
  }
}

/** TCP or UDP to port 53 right after the fixed header (a DNS query carries no extension header). */
function isDnsPacket(packet: Uint8Array): boolean {
  const next = ipv6NextHeader(packet);
  if (next !== NEXT_HEADER_TCP && next !== NEXT_HEADER_UDP) return false;
  if (packet.length < DESTINATION_PORT_OFFSET + 2) return false;
  return ((packet[DESTINATION_PORT_OFFSET]! << 8) | packet[DESTINATION_PORT_OFFSET + 1]!) === DNS_PORT;
}

/** Every IPv6 address of this machine's interfaces (loopback and link-local included): the exit's own. */
export function interfaceAddresses6(): string[] {
  const found: string[] = [];
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) if (entry.family === "IPv6") found.push(entry.address);
  }
  return found;
}
