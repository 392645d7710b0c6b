// IPv4/UDP packets built and parsed by hand, for the TUN tests and benchmark: what a TUN device
// carries with IFF_NO_PI (a bare IP header, no link header).

export interface Ipv4Udp {
  source: string;
  destination: string;
  sourcePort: number;
  destinationPort: number;
  payload: Uint8Array;
  /** Default 64. */
  ttl?: number;
}

const IPV4_HEADER_BYTES = 20;
const UDP_HEADER_BYTES = 8;
const PROTOCOL_UDP = 17;

/** An IPv4/UDP packet with correct header and UDP checksums. */
export function buildIpv4Udp(fields: Ipv4Udp): Uint8Array {
  const udpLength = UDP_HEADER_BYTES + fields.payload.byteLength;
  const total = IPV4_HEADER_BYTES + udpLength;
  const packet = new Uint8Array(total);
  const view = new DataView(packet.buffer);
  view.setUint8(0, 0x45); // version 4, 5 words of header
  view.setUint16(2, total);
  view.setUint16(6, 0x4000); // don't fragment
  view.setUint8(8, fields.ttl ?? 64);
  view.setUint8(9, PROTOCOL_UDP);
  packet.set(ipv4Bytes(fields.source), 12);
  packet.set(ipv4Bytes(fields.destination), 16);
  view.setUint16(10, checksum(packet.subarray(0, IPV4_HEADER_BYTES)));

  view.setUint16(20, fields.sourcePort);
  view.setUint16(22, fields.destinationPort);
  view.setUint16(24, udpLength);
  packet.set(fields.payload, IPV4_HEADER_BYTES + UDP_HEADER_BYTES);
  const udpSum = udpChecksum(packet);
  view.setUint16(26, udpSum === 0 ? 0xffff : udpSum); // 0 would mean "no checksum"

  return packet;
}

/** The fields of an IPv4/UDP packet, or undefined for anything else (IPv6, other protocols). */
export function parseIpv4Udp(
  packet: Uint8Array,
): (Required<Ipv4Udp> & { checksumsValid: boolean }) | undefined {
  if (
    packet.byteLength < IPV4_HEADER_BYTES + UDP_HEADER_BYTES ||
    packet[0] !== 0x45 ||
    packet[9] !== PROTOCOL_UDP
  ) {
    return undefined;
  }
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  const total = view.getUint16(2);
  const udpLength = view.getUint16(24);
  if (total > packet.byteLength || udpLength !== total - IPV4_HEADER_BYTES) return undefined;
  const headerValid = checksum(packet.subarray(0, IPV4_HEADER_BYTES)) === 0;
  const udpValid = view.getUint16(26) === 0 || udpChecksum(packet.subarray(0, total)) === 0;
  return {
    source: packet.subarray(12, 16).join("."),
    destination: packet.subarray(16, 20).join("."),
    sourcePort: view.getUint16(20),
    destinationPort: view.getUint16(22),
    payload: packet.subarray(IPV4_HEADER_BYTES + UDP_HEADER_BYTES, total),
    ttl: view.getUint8(8),
    checksumsValid: headerValid && udpValid,
  };
}

function ipv4Bytes(address: string): number[] {
  const parts = address.split(".").map(Number);
  if (parts.length !== 4 || parts.some((part) => !Number.isInteger(part) || part < 0 || part > 255)) {
    throw new Error(`not an IPv4 address: ${address}`);
  }
  return parts;
}

/** The UDP checksum over the pseudo-header and the datagram: with 0 in the field, the value to put there; with a checksum there, 0 if it is right. */
function udpChecksum(packet: Uint8Array): number {
  const udp = packet.subarray(IPV4_HEADER_BYTES);
  const pseudo = new Uint8Array(12);
  pseudo.set(packet.subarray(12, 20), 0);
  pseudo[9] = PROTOCOL_UDP;
  new DataView(pseudo.buffer).setUint16(10, udp.byteLength);
  return checksum(udp, onesSum(pseudo));
}

/** The Internet checksum (RFC 1071) of `bytes`, continuing from `initial`. */
function checksum(bytes: Uint8Array, initial = 0): number {
  return ~onesSum(bytes, initial) & 0xffff;
}

function onesSum(bytes: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < bytes.byteLength; i += 2) sum += ((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0);
  if (bytes.byteLength % 2 === 1) sum += (bytes[bytes.byteLength - 1] ?? 0) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}
