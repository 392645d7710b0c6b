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
  onPackets(handler: (packets: Uint8Array[]) => void): void;

  /**
   * Hands one IP packet to the kernel. Never blocks for long; returns false if the kernel refused it
   * or the device is closed (counted in stats.writeErrors). The packet is not kept.
   */
  write(packet: Uint8Array): boolean;

  /** A snapshot of the counters, taken when read. */
  readonly stats: TunStats;

  /**
   * Stops reading and closes the device; resolves once the fd is closed and the reader thread has
   * ended. Never hangs; safe to call twice. Packets not yet handed to the handler are discarded. The
   * kernel removes a non-persistent interface when the fd closes.
   */
  close(): Promise<void>;
}

export interface TunOptions {
  /** Interface name, at most 15 bytes; "%d" is completed by the kernel. Default DEFAULT_TUN_NAME. */
  name?: string;
}

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
  };
}

/**
 * Bytes of packets read before a handler is set that are held for it; later ones are dropped and
 * counted. Plenty for what a kernel sends while the caller wires the handler (router
 * solicitations), small enough to be no memory concern.
 */
export const MAX_HELD_BYTES = 1024 * 1024;
