// The egress guard: which destinations a laptop may reach through the exit. An exit that forwards
// anywhere is an open door into the network it sits in (its own services on loopback, the cloud's
// metadata service at 169.254.169.254, the provider's private network). By default it refuses:
//
//   the exit's own addresses        egress_own_address   (its services, seen from inside), also
//     its public ones (--public-address: behind 1:1 NAT or on a Docker host, not on an interface)
//   the pool                        egress_pool          (the other laptops)
//   --deny-egress CIDR,...          egress_denied        (the operator's own list)
//   10/8, 172.16/12, 192.168/16     egress_private       (RFC 1918)
//   100.64/10                       egress_private       (carrier-grade NAT, RFC 6598)
//   127/8                           egress_loopback
//   169.254/16                      egress_link_local    (cloud metadata lives here)
//   168.63.129.16                   egress_link_local    (Azure's metadata and DHCP/DNS host)
//   224/4                           egress_multicast
//   0/8, 240/4 (255.255.255.255)    egress_reserved      ("this network", reserved, broadcast)
//   192.0.0/24, 198.18/15           egress_reserved      (IETF protocol assignments, benchmarking)
//   192.0.2/24, 198.51.100/24,      egress_reserved      (documentation: never on the internet,
//     203.0.113/24                                         so only someone's private use)
//
// In this order: the DNS servers the exit announced, for DNS (port 53) only, since a VPS's resolver
// is often private (even the exit itself); then the exit's own addresses, the pool and the deny
// list, which nothing opens; then the operator's allow-list (--allow-egress CIDR,...), which opens
// the default ranges below it.
//
// Pure: `check` looks at one packet against tables built once; the caller counts the verdict.
import { networkInterfaces } from "node:os";
import {
  type Ipv4Cidr,
  ipv4CidrContains,
  ipv4Destination,
  parseIpv4Cidr,
  parseIpv4CidrList,
  tryParseIpv4,
} from "../protocol/ip.js";

export type EgressRefusal =
  | "egress_own_address"
  | "egress_pool"
  | "egress_denied"
  | "egress_private"
  | "egress_loopback"
  | "egress_link_local"
  | "egress_multicast"
  | "egress_reserved";

/** An IPv4 prefix, as protocol/ip.ts reads it. */
export type Cidr = Ipv4Cidr;

/** The ranges refused by default, each with the reason it is counted under. */
export const REFUSED_RANGES: readonly { cidr: string; reason: EgressRefusal }[] = [
  { cidr: "0.0.0.0/8", reason: "egress_reserved" },
  { cidr: "10.0.0.0/8", reason: "egress_private" },
  { cidr: "100.64.0.0/10", reason: "egress_private" },
  { cidr: "127.0.0.0/8", reason: "egress_loopback" },
  { cidr: "168.63.129.16/32", reason: "egress_link_local" },
  { cidr: "169.254.0.0/16", reason: "egress_link_local" },
  { cidr: "172.16.0.0/12", reason: "egress_private" },
  { cidr: "192.0.0.0/24", reason: "egress_reserved" },
  { cidr: "192.0.2.0/24", reason: "egress_reserved" },
  { cidr: "192.168.0.0/16", reason: "egress_private" },
  { cidr: "198.18.0.0/15", reason: "egress_reserved" },
  { cidr: "198.51.100.0/24", reason: "egress_reserved" },
  { cidr: "203.0.113.0/24", reason: "egress_reserved" },
  { cidr: "224.0.0.0/4", reason: "egress_multicast" },
  { cidr: "240.0.0.0/4", reason: "egress_reserved" },
];

/** The DNS port: the only one the announced resolvers may be reached on when they are private. */
const DNS_PORT = 53;
const PROTOCOL_TCP = 6;
const PROTOCOL_UDP = 17;

/** A comma-separated list of IPv4 CIDRs or bare addresses (the --allow-egress flag's value). Throws IpError. */
export function parseCidrList(text: string): Cidr[] {
  return parseIpv4CidrList(text, { bareAddress: true });
}

interface Range extends Cidr {
  reason: EgressRefusal;
}

/**
 * The refused ranges by first octet, so most destinations cost one array read: `undefined` for a
 * first octet no refused range touches, else the few ranges to test.
 */
function buildTable(): (Range[] | undefined)[] {
  const table: (Range[] | undefined)[] = new Array(256).fill(undefined);
  for (const { cidr, reason } of REFUSED_RANGES) {
    const range: Range = { ...parseIpv4Cidr(cidr), reason };
    const first = range.network >>> 24;
    const last = (range.network | (~range.mask >>> 0)) >>> 24;
    for (let octet = first; octet <= last; octet++) {
      const ranges = table[octet] ?? [];
      ranges.push(range);
      table[octet] = ranges;
    }
  }
  return table;
}

const REFUSED_BY_FIRST_OCTET = buildTable();

/** The refusal for a destination address by the default ranges alone, or undefined. */
export function refusedRange(destination: number): EgressRefusal | undefined {
  const ranges = REFUSED_BY_FIRST_OCTET[destination >>> 24];
  if (ranges === undefined) return undefined;
  for (const range of ranges) if (ipv4CidrContains(range, destination)) return range.reason;
  return undefined;
}

export interface EgressGuardOptions {
  /** The exit's own addresses (every interface's): refused whatever the allow-list says. */
  ownAddresses: readonly string[];
  /** Addresses the exit is reached at but has on no interface (1:1 NAT, a Docker host): as own. */
  publicAddresses?: readonly string[];
  /** The laptops' address pool: one laptop never reaches another through the exit. */
  pool?: Cidr;
  /** Destinations refused whatever the allow-list says (--deny-egress). */
  deny?: readonly Cidr[];
  /** Default-refused destinations allowed all the same (--allow-egress). */
  allow?: readonly Cidr[];
  /** DNS servers announced to laptops: reachable on port 53 even inside a refused range. */
  dnsServers?: readonly string[];
}

function toInts(addresses: readonly string[]): Set<number> {
  const set = new Set<number>();
  for (const address of addresses) {
    const value = tryParseIpv4(address);
    if (value !== undefined) set.add(value);
  }
  return set;
}

export class EgressGuard {
  private own: Set<number>;
  private readonly public: readonly string[];
  private readonly pool: Cidr | undefined;
  private readonly deny: readonly Cidr[];
  private readonly allow: readonly Cidr[];
  private readonly dns: Set<number>;

  constructor(options: EgressGuardOptions) {
    this.public = options.publicAddresses ?? [];
    this.own = toInts([...options.ownAddresses, ...this.public]);
    this.pool = options.pool;
    this.deny = options.deny ?? [];
    this.allow = options.allow ?? [];
    this.dns = toInts(options.dnsServers ?? []);
  }

  /** The exit's addresses changed (an interface came up, DHCP renewed); public ones stay. */
  setOwnAddresses(addresses: readonly string[]): void {
    this.own = toInts([...addresses, ...this.public]);
  }

  /** Why this IPv4 packet (already checked to be one) must not leave, or undefined to send it. */
  check(packet: Uint8Array): EgressRefusal | undefined {
    const destination = ipv4Destination(packet);
    if (this.dns.has(destination) && isDnsPacket(packet)) return undefined;
    if (this.own.has(destination)) return "egress_own_address";
    if (this.pool && ipv4CidrContains(this.pool, destination)) return "egress_pool";
    for (const cidr of this.deny) if (ipv4CidrContains(cidr, destination)) return "egress_denied";
    for (const cidr of this.allow) if (ipv4CidrContains(cidr, destination)) return undefined;
    return refusedRange(destination);
  }
}

/** TCP or UDP to port 53, in an unfragmented packet or a first fragment that holds the port. */
function isDnsPacket(packet: Uint8Array): boolean {
  const protocol = packet[9];
  if (protocol !== PROTOCOL_TCP && protocol !== PROTOCOL_UDP) return false;
  const fragmentOffset = ((packet[6]! & 0x1f) << 8) | packet[7]!;
  if (fragmentOffset !== 0) return false;
  const headerBytes = (packet[0]! & 0x0f) * 4;
  if (headerBytes < 20 || packet.length < headerBytes + 4) return false;
  return ((packet[headerBytes + 2]! << 8) | packet[headerBytes + 3]!) === DNS_PORT;
}

/** Every IPv4 address of this machine's interfaces (loopback included): the exit's own. */
export function interfaceAddresses(): string[] {
  const found: string[] = [];
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) if (entry.family === "IPv4") found.push(entry.address);
  }
  return found;
}
