// The contract between the Linux TUN device (main thread, linux.ts) and its reader worker
// (reader-worker.ts): what the worker is given, the messages it sends, the shared counters, limits.
//
// Read flow:
//   1. The worker waits in poll() on the TUN fd and an eventfd (the "wake" eventfd: close() and an
//      idle main thread write it).
//   2. When the TUN fd is readable it read()s packets, one syscall each, back to back into the
//      batch buffer until EAGAIN, MAX_BATCH_PACKETS, or less than MAX_PACKET_BYTES of room is left.
//   3. If the main thread has consumed every batch (SLOT_IN_FLIGHT is 0), or the batch is full, it
//      posts the batch (buffer transferred, not copied, plus the packet lengths) and counts it in
//      SLOT_IN_FLIGHT. Otherwise it keeps the batch, sets SLOT_WANTS_WAKE and goes back to 1: more
//      packets join the batch while the main thread is busy (one message per busy spell instead of
//      one per packet, as a message costs the main thread far more than a packet), and the main
//      thread writes the eventfd when it becomes idle. An idle main thread gets each packet at once.
//   4. Past MAX_BATCHES_IN_FLIGHT posted and unconsumed batches, the worker waits for the main
//      thread (backpressure: the kernel queues, then drops, so a stalled event loop cannot grow
//      memory) and counts the stall.
//   5. The main thread slices views per packet, calls the handler, decrements SLOT_IN_FLIGHT.
//
// With offloads (IFF_VNET_HDR), each read is a virtio_net_hdr and a packet, which may be a TSO/GRO
// super-packet of up to 64 KiB: one read instead of dozens. Step 2 then completes a partial
// checksum, and splits a super-packet into ordinary packets in the batch (gso-split.ts), or, when
// the caller takes super-packets, cuts it to the size cap and keeps its segment size beside it.

/**
 * The largest packet a TUN interface can hand over (its MTU is at most 65535; without
 * IFF_VNET_HDR there is no GSO). A read needs room for a whole packet: a short buffer loses it.
 */
export const MAX_PACKET_BYTES = 65_535;

/** Packets per batch at most: bounds the work of one handler call. */
export const MAX_BATCH_PACKETS = 256;

/**
 * The buffer one batch is read into: 256 MTU-sized (1500 B) packets plus room for one packet of the
 * largest size, so a full batch of ordinary packets fits.
 */
export const BATCH_BUFFER_BYTES = MAX_BATCH_PACKETS * 1500 + MAX_PACKET_BYTES;

/**
 * A batch that fills less than this fraction of its buffer is copied into a buffer of its own size
 * and the big one kept for the next batch: a trickle of packets does not pin (or zero) a big buffer
 * per packet, and under load full buffers are handed over without a copy.
 */
export const TRANSFER_WHOLE_BUFFER_FRACTION = 0.5;

/**
 * Batches posted to the main thread and not yet handed to the handler, at most. Past it the worker
 * stops reading: at most this many batch buffers (about 4 MiB) are in flight.
 */
export const MAX_BATCHES_IN_FLIGHT = 8;

/**
 * How long the worker sleeps in poll() or a backpressure wait before it checks its flags again.
 * The eventfd and Atomics.notify wake it at once; this only bounds a wait if a wake-up were lost.
 */
export const READER_WAKE_MS = 200;

/** Int32 slots of the SharedArrayBuffer both threads hold. */
export const SLOT_IN_FLIGHT = 0;
/** Set to 1 by close(): the worker finishes its batch and ends. */
export const SLOT_CLOSING = 1;
export const SLOT_READ_ERRORS = 2;
export const SLOT_READER_STALLS = 3;
/** The errno of the last read error, for the log. */
export const SLOT_LAST_ERRNO = 4;
/** Set to 1 by the worker while it holds a batch for a busy main thread; see step 3. */
export const SLOT_WANTS_WAKE = 5;
/** read() calls on the TUN fd (those that returned a packet). */
export const SLOT_READ_CALLS = 6;
/** Super-packets read, and those refused as malformed. */
export const SLOT_SUPER_READ = 7;
export const SLOT_SUPER_REFUSED = 8;
/** Ordinary packets whose partial checksum the reader completed. */
export const SLOT_CHECKSUMS_COMPLETED = 9;
export const SHARED_SLOTS = 10;

/** workerData of the reader worker. */
export interface ReaderInit {
  tunFd: number;
  /** The wake eventfd, non-blocking. */
  eventFd: number;
  /** SHARED_SLOTS Int32 slots. */
  shared: SharedArrayBuffer;
  /** Set when the fd was opened with IFF_VNET_HDR: every read starts with a virtio_net_hdr. */
  offload?: {
    /** Hand super-packets over (segment sizes beside them) rather than splitting them. */
    superPackets: boolean;
    /** Cut super-packets to at most this many bytes. */
    maxSuperPacketBytes: number;
  };
}

export type ReaderMessage =
  /** Posted once the worker has bound libc and is about to poll. */
  | { type: "ready" }
  /** Packets back to back in `buffer`, lengths in order. */
  | { type: "batch"; buffer: ArrayBuffer; lengths: Uint32Array; segmentSizes?: Uint16Array }
  /** The worker is ending: "closed" after close(), "hangup" when the interface went away. */
  | { type: "ended"; reason: "closed" | "hangup" };
