// Whether a pairing link may make this phone relay at once (issue 10.8). A link alone must not make
// the phone carry someone else's laptop over its data plan: a laptop this phone has not relayed for
// is asked about first, and one whose address is not on a link a laptop beside the phone can be on
// (a private or link-local address, or a `.local` name) is asked about twice. Pure: the app asks.
import { cidrContains, type IpAddress, parseCidr, tryParseIp, unmapIpv4 } from "../../../protocol/ip.js";
import type { Pairing } from "./pairing.js";
import { pairingId, type StoredPairing } from "./pairings.js";

/** Where the laptop's address says it is. */
export type LaptopAddressKind = "private" | "link-local" | "local-name" | "elsewhere";

/** What to ask before relaying: nothing, once ("a new laptop"), or twice (and "not nearby"). */
export type Confirmation = "none" | "new" | "new-elsewhere";

/** Ranges a phone's hotspot or USB tethering hands out, and their IPv6 equivalent (RFC 1918, 4193). */
const PRIVATE = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"].map((c) => parseCidr(c));
/** Link-local (RFC 3927, 4291): a cable or a hotspot without DHCP. */
const LINK_LOCAL = ["169.254.0.0/16", "fe80::/10"].map((c) => parseCidr(c));

export function laptopAddressKind(laptopUrl: string): LaptopAddressKind {
  let host: string;
  try {
    host = new URL(laptopUrl).hostname.toLowerCase();
  } catch {
    return "elsewhere";
  }
  const literal = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  const parsed = tryParseIp(literal);
  if (!parsed) return /^[a-z0-9-]+(\.[a-z0-9-]+)*\.local\.?$/.test(host) ? "local-name" : "elsewhere";
  const address: IpAddress = unmapIpv4(parsed);
  if (PRIVATE.some((cidr) => cidrContains(cidr, address))) return "private";
  if (LINK_LOCAL.some((cidr) => cidrContains(cidr, address))) return "link-local";
  return "elsewhere";
}

/**
 * Seen before: this phone keeps this laptop (same address through the same exit) with the same
 * certificate; a pairing is kept only once its user said yes to it. A new certificate is a new
 * laptop as far as trust goes.
 */
export function seenBefore(pairing: Pairing, stored: readonly StoredPairing[], exitUrl: string): boolean {
  const id = pairingId(pairing.laptopUrl, exitUrl);
  return stored.some((p) => p.id === id && p.fingerprint === pairing.fingerprint);
}

export function confirmationFor(
  pairing: Pairing,
  stored: readonly StoredPairing[],
  exitUrl: string,
): Confirmation {
  if (seenBefore(pairing, stored, exitUrl)) return "none";
  return laptopAddressKind(pairing.laptopUrl) === "elsewhere" ? "new-elsewhere" : "new";
}
