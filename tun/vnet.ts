// The virtio_net_hdr (include/uapi/linux/virtio_net.h) that a TUN opened with IFF_VNET_HDR puts
// in front of every packet it reads, and wants in front of every packet written to it: how the
// kernel hands over a TSO/GRO super-packet (up to 64 KiB of one flow, one header) and a packet
// whose checksum it left for us to complete. Ten bytes, in the host's byte order (a legacy
// virtio header: TUNSETVNETLE/BE would change that, and is not used).

/** sizeof(struct virtio_net_hdr): flags u8, gso_type u8, hdr_len, gso_size, csum_start, csum_offset u16. */
export const VNET_HDR_BYTES = 10;

/** The checksum from csum_start to the end is partial: the field holds the pseudo-header sum. */
export const VNET_F_NEEDS_CSUM = 1;
/** The kernel already checked the checksum (set on reads only). */
export const VNET_F_DATA_VALID = 2;

export const GSO_NONE = 0;
export const GSO_TCPV4 = 1;
export const GSO_UDP = 3; // UFO: fragments, never produced by modern kernels
export const GSO_TCPV6 = 4;
export const GSO_UDP_L4 = 5; // USO (Linux 6.2+ on TUN)
/** Or-ed into gso_type: the TCP flow uses ECN (CWR on the first segment only). */
export const GSO_ECN = 0x80;

export interface VnetHeader {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

/** Whether this machine stores u16 little-endian (the header's byte order on a legacy TUN). */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function u16(bytes: Uint8Array, offset: number, little: boolean): number {
  return little ? bytes[offset]! | (bytes[offset + 1]! << 8) : (bytes[offset]! << 8) | bytes[offset + 1]!;
}

function put16(bytes: Uint8Array, offset: number, value: number, little: boolean): void {
  bytes[offset + (little ? 0 : 1)] = value & 0xff;
  bytes[offset + (little ? 1 : 0)] = (value >>> 8) & 0xff;
}

/** The header at bytes[0, 10); the caller checked the length. */
export function decodeVnetHeader(bytes: Uint8Array, little = HOST_LITTLE_ENDIAN): VnetHeader {
  return {
    flags: bytes[0]!,
    gsoType: bytes[1]!,
    hdrLen: u16(bytes, 2, little),
    gsoSize: u16(bytes, 4, little),
    csumStart: u16(bytes, 6, little),
    csumOffset: u16(bytes, 8, little),
  };
}

/** Writes `header` into bytes[0, 10). */
export function encodeVnetHeader(header: VnetHeader, bytes: Uint8Array, little = HOST_LITTLE_ENDIAN): void {
  bytes[0] = header.flags;
  bytes[1] = header.gsoType;
  put16(bytes, 2, header.hdrLen, little);
  put16(bytes, 4, header.gsoSize, little);
  put16(bytes, 6, header.csumStart, little);
  put16(bytes, 8, header.csumOffset, little);
}
