// What the laptop's TUN hands over that has no business on the tunnel. The kernel treats the TUN
// as a link of its own: once it is up with IPv6 it sends router and neighbour solicitations, MLD
// reports and the like from its link-local address (or ::) to link-scope multicast groups. None of
// that means anything beyond this one link, the exit would refuse it anyway (egress_link_local,
// egress_multicast), and on a metered cellular link each is paid for twice: so it is dropped here,
// counted by reason, and never sent. Pure: reads only the bytes it is given.
import { isIpv4 } from "../protocol/ip.js";
import { ipv6Destination, ipv6Source, isIpv6 } from "../protocol/ipv6-header.js";

/** Why a packet from the laptop's TUN is not sent through the tunnel. */
export type LocalDrop =
  /** Neither IPv4 nor IPv6 (or shorter than its header). */
  | "not_ip"
  /** From or to fe80::/10: the TUN's own link (neighbour discovery, a ping to fe80::...%tether0). */
  | "ipv6_link_local"
  /** To ff00::/8 (router solicitations to ff02::2, MLD reports to ff02::16, mDNS to ff02::fb). */
  | "ipv6_multicast";

/** fe80::/10: the first 10 bits are 1111 1110 10. */
function isLinkLocal(address: Uint8Array): boolean {
  return address[0] === 0xfe && (address[1]! & 0xc0) === 0x80;
}

/** Why `packet` (from the laptop's TUN) stays on the laptop, or undefined to send it. */
export function localDrop(packet: Uint8Array): LocalDrop | undefined {
  if (isIpv4(packet)) return undefined;
  if (!isIpv6(packet)) return "not_ip";
  const source = ipv6Source(packet);
  const destination = ipv6Destination(packet);
  if (destination[0] === 0xff) return "ipv6_multicast";
  if (isLinkLocal(source) || isLinkLocal(destination)) return "ipv6_link_local";
  return undefined;
}
