// The Internet checksum (RFC 1071) and the TCP/UDP pseudo-header sums, for completing the
// checksums the kernel leaves partial (VIRTIO_NET_HDR_F_NEEDS_CSUM) and for the segments of a
// super-packet split in user space. Sums are kept unfolded (plain numbers) until the end: 32 K
// 16-bit words of a 64 KiB packet stay far below 2^53.

export const PROTOCOL_TCP = 6;
export const PROTOCOL_UDP = 17;

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Below this many bytes the plain loop is as fast as setting up a word view. */
const WIDE_SUM_MIN_BYTES = 128;

/**
 * The ones'-complement sum of bytes[start, end), big-endian 16-bit words, unfolded, plus `initial`.
 * Long runs are summed 32 bits at a time in the host's byte order (RFC 1071: the sum is byte-order
 * independent up to a final swap), four times fewer steps than byte pairs.
 */
export function sumWords(bytes: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  if (end - start >= WIDE_SUM_MIN_BYTES) {
    // Byte pairs up to a 4-byte boundary of the underlying buffer (pairs stay aligned with start).
    while (((bytes.byteOffset + i) & 3) !== 0 && i + 1 < end) {
      sum += (bytes[i]! << 8) | bytes[i + 1]!;
      i += 2;
    }
    if (((bytes.byteOffset + i) & 3) === 0) {
      const words = (end - i) >>> 2;
      const view = new Uint32Array(bytes.buffer, bytes.byteOffset + i, words);
      // Halves summed apart stay small integers (under 2^31 for 128 KiB), which V8 keeps unboxed.
      let low = 0;
      let high = 0;
      for (let w = 0; w < words; w++) {
        const word = view[w]! | 0;
        low += word & 0xffff;
        high += word >>> 16;
        if (low > 0x4000_0000 || high > 0x4000_0000) {
          low = (low & 0xffff) + (low >>> 16);
          high = (high & 0xffff) + (high >>> 16);
        }
      }
      // Fold into 16 bits in host order, then into network order.
      const folded = fold(low + high);
      sum += HOST_LITTLE_ENDIAN ? ((folded & 0xff) << 8) | (folded >>> 8) : folded;
      i += words * 4;
    }
  }
  for (; i + 1 < end; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (i < end) sum += bytes[i]! << 8;
  return sum;
}

/** `sum` folded into 16 bits (not inverted). */
export function fold(sum: number): number {
  let folded = sum;
  while (folded > 0xffff) folded = (folded % 0x10000) + Math.floor(folded / 0x10000);
  return folded;
}

/**
 * The pseudo-header sum (unfolded) of a TCP or UDP segment of `transportBytes` in the IPv4 or
 * IPv6 packet `packet`: addresses, protocol, length.
 */
export function pseudoHeaderSum(packet: Uint8Array, protocol: number, transportBytes: number): number {
  const version = packet[0]! >> 4;
  const addresses = version === 4 ? sumWords(packet, 12, 20) : sumWords(packet, 8, 40);
  return addresses + protocol + (transportBytes >>> 16) + (transportBytes & 0xffff);
}

/** The checksum to store for `sum` (folded, inverted; 0 as 0xffff). */
export function finish(sum: number): number {
  return ~fold(sum) & 0xffff || 0xffff;
}

/** Writes a big-endian u16. */
export function putU16(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = (value >>> 8) & 0xff;
  bytes[offset + 1] = value & 0xff;
}

export function getU16(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! << 8) | bytes[offset + 1]!;
}

/**
 * Completes a partial checksum in place: the field at csumStart + csumOffset holds the
 * pseudo-header sum (what the kernel puts there for CHECKSUM_PARTIAL); the checksum over
 * [csumStart, end) starting from it goes there.
 */
export function completeChecksum(packet: Uint8Array, csumStart: number, csumOffset: number): void {
  const at = csumStart + csumOffset;
  const initial = getU16(packet, at);
  putU16(packet, at, 0);
  // 0 goes out as 0xffff, as the kernel does: for UDP a 0 means "no checksum", for TCP both are equal.
  putU16(packet, at, finish(sumWords(packet, csumStart, packet.length, initial)));
}
