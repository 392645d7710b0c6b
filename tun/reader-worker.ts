// The Linux TUN reader: a worker thread that blocks in poll() so the main thread never does, and
// hands packets over in batches. The flow and the limits are in linux-reader.ts.

import { parentPort, type TransferListItem, workerData } from "node:worker_threads";
import { completeChecksum } from "./gso-checksum.js";
import {
  MAX_SEGMENTS_PER_SUPER_PACKET,
  resegment,
  resegmentedSize,
  segmentsPerPieceFor,
  superPacketLayout,
} from "./gso-split.js";
import { EAGAIN, EINTR, libc, POLLERR, POLLFD_BYTES, POLLHUP, POLLIN, POLLNVAL } from "./linux-libc.js";
import {
  BATCH_BUFFER_BYTES,
  MAX_BATCH_PACKETS,
  MAX_BATCHES_IN_FLIGHT,
  MAX_PACKET_BYTES,
  READER_WAKE_MS,
  type ReaderInit,
  type ReaderMessage,
  SLOT_CHECKSUMS_COMPLETED,
  SLOT_CLOSING,
  SLOT_IN_FLIGHT,
  SLOT_LAST_ERRNO,
  SLOT_READ_CALLS,
  SLOT_READ_ERRORS,
  SLOT_READER_STALLS,
  SLOT_SUPER_READ,
  SLOT_SUPER_REFUSED,
  SLOT_WANTS_WAKE,
  TRANSFER_WHOLE_BUFFER_FRACTION,
} from "./linux-reader.js";
import {
  decodeVnetHeader,
  GSO_ECN,
  GSO_NONE,
  GSO_TCPV4,
  GSO_TCPV6,
  GSO_UDP_L4,
  VNET_F_NEEDS_CSUM,
  VNET_HDR_BYTES,
} from "./vnet.js";

/** Pause after a read or poll error, so a persistent error cannot spin a core. */
const ERROR_BACKOFF_MS = 10;

const port = parentPort;
if (!port) throw new Error("reader-worker.ts runs as a worker thread of linux.ts");
const { tunFd, eventFd, shared: sharedBuffer, offload } = workerData as ReaderInit;
const shared = new Int32Array(sharedBuffer);
const sys = libc();

// struct pollfd[2]: the TUN fd, then the wake eventfd. As Int16: slot 2 is the TUN's events, 3 its
// revents; 6 and 7 the eventfd's (byte offsets 4 and 6 of each 8-byte struct).
const pollBytes = new Uint8Array(2 * POLLFD_BYTES);
const pollInts = new Int32Array(pollBytes.buffer);
const pollShorts = new Int16Array(pollBytes.buffer);
pollInts[0] = tunFd;
pollShorts[2] = POLLIN;
pollInts[2] = eventFd;
pollShorts[6] = POLLIN;
const TUN_REVENTS = 3;
const WAKE_REVENTS = 7;
const eventFdCounter = new Uint8Array(8);

// The batch being filled: `used` bytes, `count` packets. A super-packet split into small segments
// may take a batch past MAX_BATCH_PACKETS (up to MAX_SEGMENTS_PER_SUPER_PACKET in a batch of its own).
let batch = new Uint8Array(BATCH_BUFFER_BYTES);
const lengths = new Uint32Array(Math.max(MAX_BATCH_PACKETS, MAX_SEGMENTS_PER_SUPER_PACKET));
const segmentSizes = new Uint16Array(lengths.length);
let used = 0;
let count = 0;
/** With offloads, each read lands here first (vnet header, then up to 64 KiB of packet). */
const readBuffer = new Uint8Array(offload ? VNET_HDR_BYTES + MAX_PACKET_BYTES : 0);

// Something never notified, to sleep on with a timeout.
const sleepCell = new Int32Array(new SharedArrayBuffer(4));

post({ type: "ready" });
post(run());

function run(): ReaderMessage {
  for (;;) {
    if (closing()) return { type: "ended", reason: "closed" };
    pollShorts[TUN_REVENTS] = 0;
    pollShorts[WAKE_REVENTS] = 0;
    if (sys.poll(pollBytes, 2, READER_WAKE_MS) < 0) {
      const errno = sys.errno();
      if (errno !== EINTR) {
        countReadError(errno);
        sleep(ERROR_BACKOFF_MS);
      }
      continue;
    }
    if ((pollShorts[WAKE_REVENTS] ?? 0) !== 0) sys.read(eventFd, eventFdCounter, 8); // resets it
    const revents = pollShorts[TUN_REVENTS] ?? 0;
    if (revents & POLLIN) {
      if (!fill()) sleep(ERROR_BACKOFF_MS);
    } else if (revents & (POLLERR | POLLHUP | POLLNVAL)) {
      // The interface is gone (deleted, or its namespace was): nothing will ever be readable.
      if (count > 0) postBatch();
      return { type: "ended", reason: "hangup" };
    }
    if (count > 0) offer();
  }
}

/** Reads into the batch until EAGAIN or it is full. False if a read failed. */
function fill(): boolean {
  while (!full()) {
    const n = offload
      ? sys.read(tunFd, readBuffer, readBuffer.length)
      : sys.read(tunFd, batch.subarray(used), MAX_PACKET_BYTES);
    if (n > 0) {
      Atomics.add(shared, SLOT_READ_CALLS, 1);
      if (offload) takeOffloaded(n);
      else {
        lengths[count] = n;
        segmentSizes[count++] = 0;
        used += n;
      }
      continue;
    }
    if (n < 0) {
      const errno = sys.errno();
      if (errno === EINTR) continue;
      if (errno !== EAGAIN) {
        countReadError(errno);
        return false;
      }
    }
    return true;
  }
  return true;
}

function full(): boolean {
  return count >= MAX_BATCH_PACKETS || BATCH_BUFFER_BYTES - used < MAX_PACKET_BYTES;
}

/**
 * A read of `n` bytes in readBuffer (vnet header, packet) into the batch: the partial checksum
 * completed, a super-packet split or cut to the cap. What cannot be made sense of is counted and
 * dropped.
 */
function takeOffloaded(n: number): void {
  if (n <= VNET_HDR_BYTES) {
    refuse();
    return;
  }
  const header = decodeVnetHeader(readBuffer);
  const packet = readBuffer.subarray(VNET_HDR_BYTES, n);
  if (header.gsoType === GSO_NONE) {
    if (header.flags & VNET_F_NEEDS_CSUM) {
      if (header.csumStart + header.csumOffset + 2 > packet.length) {
        refuse();
        return;
      }
      completeChecksum(packet, header.csumStart, header.csumOffset);
      Atomics.add(shared, SLOT_CHECKSUMS_COMPLETED, 1);
    }
    append(packet, 0);
    return;
  }
  Atomics.add(shared, SLOT_SUPER_READ, 1);
  const layout = superPacketLayout(packet, header.gsoSize);
  const type = header.gsoType & ~GSO_ECN;
  if (
    typeof layout === "string" ||
    type !== (layout.protocol === 17 ? GSO_UDP_L4 : layout.version === 4 ? GSO_TCPV4 : GSO_TCPV6)
  ) {
    refuse();
    return;
  }
  const cap = offload?.superPackets ? offload.maxSuperPacketBytes : 0;
  if (layout.segments > 1 && packet.length <= cap) {
    append(packet, layout.segmentSize); // as the kernel left it: checksum partial
    return;
  }
  const perPiece = cap > 0 ? segmentsPerPieceFor(layout, cap) : 1;
  const size = resegmentedSize(layout, packet.length, perPiece);
  makeRoom(size.bytes, size.pieces);
  resegment(packet, layout, perPiece, batch.subarray(used), (length, segmentSize) => {
    lengths[count] = length;
    segmentSizes[count++] = segmentSize;
    used += length;
  });
}

function append(packet: Uint8Array, segmentSize: number): void {
  makeRoom(packet.length, 1);
  batch.set(packet, used);
  lengths[count] = packet.length;
  segmentSizes[count++] = segmentSize;
  used += packet.length;
}

/** Posts the batch first if `bytes` in `pieces` do not fit in what is left of it. */
function makeRoom(bytes: number, pieces: number): void {
  if (count > 0 && (BATCH_BUFFER_BYTES - used < bytes || lengths.length - count < pieces)) {
    postBatch();
    waitForRoom();
  }
}

function refuse(): void {
  Atomics.add(shared, SLOT_SUPER_REFUSED, 1);
}

/** Posts the batch if the main thread is idle or the batch full; else asks to be woken when idle. */
function offer(): void {
  if (full()) {
    postBatch();
    waitForRoom();
    return;
  }
  if (Atomics.load(shared, SLOT_IN_FLIGHT) === 0) {
    postBatch();
    return;
  }
  Atomics.store(shared, SLOT_WANTS_WAKE, 1);
  // The main thread may have become idle before it could see the flag: look again.
  if (Atomics.load(shared, SLOT_IN_FLIGHT) === 0) {
    Atomics.store(shared, SLOT_WANTS_WAKE, 0);
    postBatch();
  }
}

function postBatch(): void {
  let buffer: ArrayBuffer;
  if (used >= BATCH_BUFFER_BYTES * TRANSFER_WHOLE_BUFFER_FRACTION) {
    buffer = batch.buffer as ArrayBuffer;
    batch = new Uint8Array(BATCH_BUFFER_BYTES);
  } else {
    buffer = batch.buffer.slice(0, used) as ArrayBuffer; // keeps the big buffer for the next batch
  }
  const batchLengths = lengths.slice(0, count);
  const batchSegments = offload?.superPackets ? segmentSizes.slice(0, count) : undefined;
  used = 0;
  count = 0;
  Atomics.add(shared, SLOT_IN_FLIGHT, 1);
  post(
    { type: "batch", buffer, lengths: batchLengths, segmentSizes: batchSegments },
    batchSegments ? [buffer, batchLengths.buffer, batchSegments.buffer] : [buffer, batchLengths.buffer],
  );
}

/** Backpressure: while the main thread has MAX_BATCHES_IN_FLIGHT unconsumed batches, read nothing. */
function waitForRoom(): void {
  let inFlight = Atomics.load(shared, SLOT_IN_FLIGHT);
  if (inFlight < MAX_BATCHES_IN_FLIGHT) return;
  Atomics.add(shared, SLOT_READER_STALLS, 1);
  while (inFlight >= MAX_BATCHES_IN_FLIGHT && !closing()) {
    Atomics.wait(shared, SLOT_IN_FLIGHT, inFlight, READER_WAKE_MS);
    inFlight = Atomics.load(shared, SLOT_IN_FLIGHT);
  }
}

function closing(): boolean {
  return Atomics.load(shared, SLOT_CLOSING) !== 0;
}

function countReadError(errno: number): void {
  Atomics.add(shared, SLOT_READ_ERRORS, 1);
  Atomics.store(shared, SLOT_LAST_ERRNO, errno);
}

function sleep(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}

function post(message: ReaderMessage, transfer: TransferListItem[] = []): void {
  port?.postMessage(message, transfer);
}
