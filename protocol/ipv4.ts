// Moved: protocol/ip.ts is the one IP module (both families, strict parsing, packet header fields).
// These old names stay only until the last importers switch; new code imports from ./ip.js.
export {
  formatIpv4 as intToIpv4,
  IPV4_MIN_HEADER_BYTES,
  ipVersion,
  ipv4Destination,
  ipv4Source,
  isIpv4,
  tryParseIpv4 as ipv4ToInt,
} from "./ip.js";
