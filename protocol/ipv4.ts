// The few IPv4 header fields the tunnel ends look at: version, and the addresses a packet is
// routed and checked by. Addresses as unsigned 32-bit integers, so lookups cost no strings.

/** Smallest IPv4 header, bytes. */
export const IPV4_MIN_HEADER_BYTES = 20;

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

export function ipv4Source(packet: Uint8Array): number {
  return u32At(packet, 12);
}

export function ipv4Destination(packet: Uint8Array): number {
  return u32At(packet, 16);
}

export function ipv4ToInt(address: string): number | undefined {
  const parts = address.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = value * 256 + Number(part);
  }
  return value;
}

export function intToIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join(".");
}
