// TCP and UDP packets over IPv4 and IPv6, built and checked by hand for the segmentation tests:
// a deliberately naive checksum (one byte pair at a time, folded at the end), independent of
// gso-checksum.ts, so the two can check each other.

export interface TransportPacket {
  version: 4 | 6;
  protocol: "tcp" | "udp";
  payload: Uint8Array;
  /** TCP sequence number. */
  seq?: number;
  /** TCP flags byte (default ACK|PSH). */
  flags?: number;
  /** IPv4 identification. */
  id?: number;
  /** TCP header options bytes (a multiple of 4). */
  tcpOptions?: Uint8Array;
  sourcePort?: number;
  destinationPort?: number;
  /** "complete" (default), or "partial": the field holds the pseudo-header sum, as for NEEDS_CSUM. */
  checksum?: "complete" | "partial";
  /** IPv4 addresses, 4 bytes each (default V4_SOURCE, V4_DESTINATION). */
  source?: readonly number[];
  destination?: readonly number[];
}

export const V4_SOURCE = [10, 200, 1, 2];
export const V4_DESTINATION = [10, 200, 2, 3];
export const V6_SOURCE = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
export const V6_DESTINATION = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3];

export function buildTransportPacket(fields: TransportPacket): Uint8Array {
  const ip = fields.version === 4 ? 20 : 40;
  const options = fields.tcpOptions ?? new Uint8Array(0);
  const transportHeader = fields.protocol === "tcp" ? 20 + options.length : 8;
  const total = ip + transportHeader + fields.payload.length;
  const packet = new Uint8Array(total);
  const view = new DataView(packet.buffer);
  const protocol = fields.protocol === "tcp" ? 6 : 17;
  if (fields.version === 4) {
    view.setUint8(0, 0x45);
    view.setUint16(2, total);
    view.setUint16(4, fields.id ?? 0x1234);
    view.setUint16(6, 0x4000);
    view.setUint8(8, 64);
    view.setUint8(9, protocol);
    packet.set(fields.source ?? V4_SOURCE, 12);
    packet.set(fields.destination ?? V4_DESTINATION, 16);
    view.setUint16(10, naiveChecksum(packet.subarray(0, 20)));
  } else {
    view.setUint32(0, 0x60000000);
    view.setUint16(4, total - 40);
    view.setUint8(6, protocol);
    view.setUint8(7, 64);
    packet.set(V6_SOURCE, 8);
    packet.set(V6_DESTINATION, 24);
  }
  view.setUint16(ip, fields.sourcePort ?? 40000);
  view.setUint16(ip + 2, fields.destinationPort ?? 5201);
  let checksumAt: number;
  if (fields.protocol === "tcp") {
    view.setUint32(ip + 4, fields.seq ?? 1000);
    view.setUint32(ip + 8, 777);
    view.setUint8(ip + 12, ((20 + options.length) / 4) << 4);
    view.setUint8(ip + 13, fields.flags ?? 0x18);
    view.setUint16(ip + 14, 65535);
    packet.set(options, ip + 20);
    checksumAt = ip + 16;
  } else {
    view.setUint16(ip + 4, total - ip);
    checksumAt = ip + 6;
  }
  packet.set(fields.payload, ip + transportHeader);
  const pseudo = pseudoSum(packet, protocol, total - ip);
  if (fields.checksum === "partial") {
    view.setUint16(checksumAt, foldNaive(pseudo));
  } else {
    const sum = naiveChecksum(packet.subarray(ip), pseudo);
    view.setUint16(checksumAt, sum === 0 && protocol === 17 ? 0xffff : sum);
  }
  return packet;
}

/** Whether the IPv4 header checksum (if any) and the TCP/UDP checksum of `packet` are right. */
export function checksumsValid(packet: Uint8Array): boolean {
  const version = packet[0]! >> 4;
  const ip = version === 4 ? (packet[0]! & 0x0f) * 4 : 40;
  if (version === 4 && naiveChecksum(packet.subarray(0, ip)) !== 0) return false;
  const protocol = version === 4 ? packet[9]! : packet[6]!;
  return naiveChecksum(packet.subarray(ip), pseudoSum(packet, protocol, packet.length - ip)) === 0;
}

/** Payload of a TCP or UDP packet (after its headers). */
export function transportPayload(packet: Uint8Array): Uint8Array {
  const version = packet[0]! >> 4;
  const ip = version === 4 ? (packet[0]! & 0x0f) * 4 : 40;
  const protocol = version === 4 ? packet[9]! : packet[6]!;
  const header = protocol === 6 ? (packet[ip + 12]! >> 4) * 4 : 8;
  return packet.subarray(ip + header);
}

export function tcpSeq(packet: Uint8Array): number {
  const ip = packet[0]! >> 4 === 4 ? (packet[0]! & 0x0f) * 4 : 40;
  return new DataView(packet.buffer, packet.byteOffset).getUint32(ip + 4);
}

export function tcpFlags(packet: Uint8Array): number {
  const ip = packet[0]! >> 4 === 4 ? (packet[0]! & 0x0f) * 4 : 40;
  return packet[ip + 13]!;
}

/** Bytes 0..n-1 of a recognisable pattern. */
export function pattern(length: number, seed = 0): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 7 + seed) & 0xff);
}

function pseudoSum(packet: Uint8Array, protocol: number, length: number): number {
  const version = packet[0]! >> 4;
  const addresses = version === 4 ? packet.subarray(12, 20) : packet.subarray(8, 40);
  const pseudo = new Uint8Array(addresses.length + 8);
  pseudo.set(addresses);
  const view = new DataView(pseudo.buffer);
  view.setUint32(addresses.length, length);
  view.setUint32(addresses.length + 4, protocol);
  let sum = 0;
  for (let i = 0; i < pseudo.length; i += 2) sum += pseudo[i]! * 256 + pseudo[i + 1]!;
  return sum;
}

function naiveChecksum(bytes: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i < bytes.length; i += 2) sum += bytes[i]! * 256 + (bytes[i + 1] ?? 0);
  return ~foldNaive(sum) & 0xffff;
}

function foldNaive(sum: number): number {
  let folded = sum;
  while (folded > 0xffff) folded = (folded % 65536) + Math.floor(folded / 65536);
  return folded;
}
