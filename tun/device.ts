// The TUN boundary: the one interface the laptop and exit halves use to trade IP packets with the
// kernel. Platform files (linux.ts) implement it, fake.ts fakes it in memory, index.ts picks.

/** The name the kernel completes ("%d" becomes the first free number) when none is given. */
export const DEFAULT_TUN_NAME = "tether%d";

export interface TunDevice {
  /** Kernel interface name, e.g. "tether0". */
  readonly name: string;

  /**
   * Registers the receiver of packets the kernel sends into the device. Packets come in batches
   * (all that were ready), each a Uint8Array the handler owns (never reused by the device). Called
   * once; packets read before a handler is set are held (up to MAX_HELD_BYTES, handed over right after
   * this call) or dropped and counted (stats.readDropsNoHandler). Packets of one batch may share one
   * buffer: a packet kept for long keeps its batch's memory alive, so copy what is kept for long.
   */
  onPackets(handler: PacketHandler): void;

  /**
   * Hands one IP packet to the kernel. Never blocks for long; returns false if the kernel refused it
   * or the device is closed (counted in stats.writeErrors). The packet is not kept nor modified.
   * With `segmentSize` > 0 the packet is a super-packet (gso-split.ts): one TCP or UDP header and
   * the payload of segments of that size, its checksum complete or partial; the kernel segments it
   * (offloads on and the start-up probe passed) or the device splits it first.
   */
  write(packet: Uint8Array, segmentSize?: number): boolean;

  /**
   * Hands a batch of packets to the kernel, in order per flow. Where the kernel takes
   * super-packets (offload.gsoWrites), consecutive TCP segments of a flow are coalesced into one
   * (gso-coalesce.ts): one write and one pass through the kernel's stack for many. With
   * `segmentSizes`, a packet whose entry is not 0 is a super-packet already, written as write()
   * does. Returns how many IP packets (a super-packet's segments each), and how many of their
   * bytes, the kernel took.
   */
  writePackets(
    packets: readonly Uint8Array[],
    segmentSizes?: ArrayLike<number>,
  ): { packets: number; bytes: number };

  /** What the device does with super-packets; all false without TunOptions.offload. */
  readonly offload: TunOffloadState;

  /** A snapshot of the counters, taken when read. */
  readonly stats: TunStats;

  /**
   * Stops reading and closes the device; resolves once the fd is closed and the reader thread has
   * ended. Never hangs; safe to call twice. Packets not yet handed to the handler are discarded. The
   * kernel removes a non-persistent interface when the fd closes.
   */
  close(): Promise<void>;
}

/**
 * Receives a batch of packets. `segmentSizes` is given only when the device hands super-packets
 * over (TunOffloadOptions.superPackets): per packet, 0 for an ordinary packet (checksum complete),
 * else the segment size of a super-packet (its TCP/UDP checksum partial: the pseudo-header sum).
 */
export type PacketHandler = (packets: Uint8Array[], segmentSizes?: Uint16Array) => void;

export interface TunOptions {
  /** Interface name, at most 15 bytes; "%d" is completed by the kernel. Default DEFAULT_TUN_NAME. */
  name?: string;
  /**
   * Opens the device with IFF_VNET_HDR and TSO (and USO where the kernel has it): the kernel hands
   * over TSO/GRO super-packets of up to 64 KiB in one read, and segments super-packets written
   * with a segment size. Off by default.
   */
  offload?: TunOffloadOptions;
  /**
   * The interface's transmit queue, packets: where the kernel holds what the reader has not taken
   * yet, and tail-drops past it. Default TX_QUEUE_PACKETS, or OFFLOAD_TX_QUEUE_PACKETS with offloads.
   */
  txQueuePackets?: number;
}

/**
 * Transmit queue of a TUN without offloads, packets (the kernel's default is 500). The reader can
 * be kept from running for a few ms on a busy machine, and a TCP sender bursts up to its TSQ limit
 * (1 MiB by default, about 700 full-size packets) into the device at once: 500 tail-dropped those
 * bursts. 2048 is 24 ms at 1 Gbit/s, 3 MiB of packets at most.
 */
export const TX_QUEUE_PACKETS = 2048;

/** Transmit queue with offloads, packets: each may be a 64 KiB super-packet (32 MiB at most). */
export const OFFLOAD_TX_QUEUE_PACKETS = 512;

export interface TunOffloadOptions {
  /**
   * Hand super-packets to the handler with their segment sizes (cut to maxSuperPacketBytes)
   * instead of splitting them into ordinary packets in the reader thread. Default false: callers
   * see ordinary packets, read many at a time.
   */
  superPackets?: boolean;
  /** Largest super-packet handed over, bytes; bigger ones are cut at segment boundaries. */
  maxSuperPacketBytes?: number;
  /** Let the kernel segment written super-packets (default true; the probe may say no). */
  gsoWrites?: boolean;
  /** Told, once, why an offload is off although asked for (TunOffloadState.note). */
  onNote?: (note: string) => void;
}

export interface TunOffloadState {
  /** The device reads and writes with a vnet header and the kernel hands over TCP super-packets. */
  tso: boolean;
  /** UDP super-packets too (Linux 6.2+). */
  uso: boolean;
  /**
   * Super-packets written go to the kernel whole (else they are split here first). Until the
   * first super-packet is written this is what was asked for; a probe then checks the kernel.
   */
  gsoWrites: boolean;
  /** Why an offload is off although asked for, once, for the log; undefined when all is well. */
  note: string | undefined;
}

/** No offloads. */
export const NO_OFFLOAD: TunOffloadState = { tso: false, uso: false, gsoWrites: false, note: undefined };

/**
 * Largest super-packet handed over or carried by default, bytes: one WebSocket message stays
 * within 64 KiB (Chromium's data pipe on Android; bigger messages cost an extra copy) with room for
 * the frame header, the per-packet prefixes and an AEAD's nonce and tag.
 */
export const SUPER_PACKET_MAX_BYTES = 65_536 - 256;

export interface TunStats {
  /** Packets read from the kernel (handed to the handler, held, or dropped for want of one). */
  packetsRead: number;
  bytesRead: number;
  packetsWritten: number;
  bytesWritten: number;
  /** Writes the kernel refused, or made after close(). */
  writeErrors: number;
  /** Reads or polls that failed for another reason than "nothing to read". */
  readErrors: number;
  /** Packets read before onPackets() was called, past MAX_HELD_BYTES. */
  readDropsNoHandler: number;
  /**
   * Times the reader paused because the main thread had not consumed what it was sent. While it
   * pauses the kernel queues packets, then drops them (counted by the kernel: `ip -s link`).
   */
  readerStalls: number;
  /** read() and write() system calls on the device: packets per call is what batching and offloads buy. */
  readCalls: number;
  writeCalls: number;
  /** Super-packets read (each counted once in packetsRead as the packets it was split into, or as one). */
  superPacketsRead: number;
  /** Super-packets written whole for the kernel to segment. */
  superPacketsWritten: number;
  /** Super-packets (read or to write) refused as malformed, and dropped. */
  superPacketsRefused: number;
  /** Packets read whose checksum the kernel left partial (VIRTIO_NET_HDR_F_NEEDS_CSUM), completed. */
  checksumsCompleted: number;
}

/** All counters at zero. */
export function emptyTunStats(): TunStats {
  return {
    packetsRead: 0,
    bytesRead: 0,
    packetsWritten: 0,
    bytesWritten: 0,
    writeErrors: 0,
    readErrors: 0,
    readDropsNoHandler: 0,
    readerStalls: 0,
    readCalls: 0,
    writeCalls: 0,
    superPacketsRead: 0,
    superPacketsWritten: 0,
    superPacketsRefused: 0,
    checksumsCompleted: 0,
  };
}

/**
 * Bytes of packets read before a handler is set that are held for it; later ones are dropped and
 * counted. Plenty for what a kernel sends while the caller wires the handler (router
 * solicitations), small enough to be no memory concern.
 */
export const MAX_HELD_BYTES = 1024 * 1024;
