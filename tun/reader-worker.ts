// The Linux TUN reader: a worker thread that blocks in poll() so the main thread never does, and
// hands packets over in batches. The flow and the limits are in linux-reader.ts.

import { parentPort, type TransferListItem, workerData } from "node:worker_threads";
import { EAGAIN, EINTR, libc, POLLERR, POLLFD_BYTES, POLLHUP, POLLIN, POLLNVAL } from "./linux-libc.js";
import {
  BATCH_BUFFER_BYTES,
  MAX_BATCH_PACKETS,
  MAX_BATCHES_IN_FLIGHT,
  MAX_PACKET_BYTES,
  READER_WAKE_MS,
  type ReaderInit,
  type ReaderMessage,
  SLOT_CLOSING,
  SLOT_IN_FLIGHT,
  SLOT_LAST_ERRNO,
  SLOT_READ_ERRORS,
  SLOT_READER_STALLS,
  TRANSFER_WHOLE_BUFFER_FRACTION,
} from "./linux-reader.js";

/** Pause after a batch that ended in a read error, so a persistent error cannot spin a core. */
const READ_ERROR_BACKOFF_MS = 10;

const port = parentPort;
if (!port) throw new Error("reader-worker.ts runs as a worker thread of linux.ts");
const { tunFd, eventFd, shared: sharedBuffer } = workerData as ReaderInit;
const shared = new Int32Array(sharedBuffer);
const sys = libc();

// struct pollfd[2]: the TUN fd, then the eventfd close() writes to. Int16 slot 2k+2 is events,
// 2k+3 revents (byte offsets 4 and 6 of each 8-byte struct).
const pollBytes = new Uint8Array(2 * POLLFD_BYTES);
const pollInts = new Int32Array(pollBytes.buffer);
const pollShorts = new Int16Array(pollBytes.buffer);
pollInts[0] = tunFd;
pollShorts[2] = POLLIN;
pollInts[2] = eventFd;
pollShorts[6] = POLLIN;
const TUN_REVENTS = 3;
const EVENT_REVENTS = 7;

let batch = new Uint8Array(BATCH_BUFFER_BYTES);
const lengths = new Uint32Array(MAX_BATCH_PACKETS);
// Something never notified, to sleep on with a timeout.
const sleepCell = new Int32Array(new SharedArrayBuffer(4));

post({ type: "ready" });
post(run());

function run(): ReaderMessage {
  for (;;) {
    if (closing()) return { type: "ended", reason: "closed", errno: 0 };
    pollShorts[TUN_REVENTS] = 0;
    pollShorts[EVENT_REVENTS] = 0;
    const ready = sys.poll(pollBytes, 2, READER_WAKE_MS);
    if (ready < 0) {
      const errno = sys.errno();
      if (errno !== EINTR) {
        countReadError(errno);
        sleep(READ_ERROR_BACKOFF_MS);
      }
      continue;
    }
    if (ready === 0 || (pollShorts[EVENT_REVENTS] ?? 0) !== 0) continue; // the loop head sees closing
    const revents = pollShorts[TUN_REVENTS] ?? 0;
    if (revents & POLLIN) {
      if (!readBatch()) sleep(READ_ERROR_BACKOFF_MS);
      waitForRoom();
    } else if (revents & (POLLERR | POLLHUP | POLLNVAL)) {
      // The interface is gone (deleted, or its namespace was): nothing will ever be readable.
      return { type: "ended", reason: "hangup", errno: 0 };
    }
  }
}

/** Reads until EAGAIN or the batch is full and posts what it got. False if a read failed. */
function readBatch(): boolean {
  let used = 0;
  let count = 0;
  let ok = true;
  while (count < MAX_BATCH_PACKETS && BATCH_BUFFER_BYTES - used >= MAX_PACKET_BYTES) {
    const n = sys.read(tunFd, batch.subarray(used), MAX_PACKET_BYTES);
    if (n > 0) {
      lengths[count++] = n;
      used += n;
      continue;
    }
    if (n < 0) {
      const errno = sys.errno();
      if (errno === EINTR) continue;
      if (errno !== EAGAIN) {
        countReadError(errno);
        ok = false;
      }
    }
    break;
  }
  if (count > 0) postBatch(used, count);
  return ok;
}

function postBatch(used: number, count: number): void {
  let buffer: ArrayBuffer;
  if (used >= BATCH_BUFFER_BYTES * TRANSFER_WHOLE_BUFFER_FRACTION) {
    buffer = batch.buffer as ArrayBuffer;
    batch = new Uint8Array(BATCH_BUFFER_BYTES);
  } else {
    buffer = batch.buffer.slice(0, used) as ArrayBuffer;
  }
  const batchLengths = lengths.slice(0, count);
  Atomics.add(shared, SLOT_IN_FLIGHT, 1);
  post({ type: "batch", buffer, lengths: batchLengths }, [buffer, batchLengths.buffer]);
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
