// An in-memory TunDevice for tests: the test plays the kernel. inject() is the kernel sending
// packets into the device; written/onWrite see what the code under test wrote. Same contract and
// counters as the real device, no privileges, no threads.

import {
  emptyTunStats,
  MAX_HELD_BYTES,
  NO_OFFLOAD,
  type PacketHandler,
  type TunDevice,
  type TunStats,
} from "./device.js";
import { gsoSplit } from "./gso-split.js";

export interface FakeTun extends TunDevice {
  /**
   * As if the kernel sent these packets into the device: handed to the handler now, as one batch
   * (each packet a copy the handler owns), or held/dropped like the real device before onPackets().
   * Returns false, delivering nothing, once the device is closed. With `segmentSizes` the kernel
   * hands over super-packets, as a real device opened with offload.superPackets does: the handler
   * gets the sizes (0 for an ordinary packet). Held packets lose them (tests set a handler first).
   */
  inject(packets: Uint8Array[], segmentSizes?: number[]): boolean;
  /**
   * Copies of the packets write() accepted, in order; a super-packet as the segments it splits
   * into (the fake has no offloads, like a kernel without them). Tests may clear it.
   */
  readonly written: Uint8Array[];
  /**
   * Called with each packet write() is given while open, before it is recorded; returning false
   * makes the write fail as if the kernel refused it (counted, not recorded).
   */
  onWrite: ((packet: Uint8Array) => boolean | undefined) | undefined;
  /** Whether close() was called. */
  readonly closed: boolean;
}

/** A fake TUN device named `name`. */
export function createFakeTun(name = "faketun0"): FakeTun {
  const counts = emptyTunStats();
  const written: Uint8Array[] = [];
  let handler: PacketHandler | undefined;
  let held: Uint8Array[] = [];
  let heldBytes = 0;
  let closed = false;

  const fake: FakeTun = {
    name,
    written,
    offload: NO_OFFLOAD,
    onWrite: undefined,
    get closed() {
      return closed;
    },
    get stats(): TunStats {
      return { ...counts };
    },

    onPackets(next) {
      handler = next;
      const pending = held;
      held = [];
      heldBytes = 0;
      if (pending.length > 0) queueMicrotask(() => !closed && next(pending));
    },

    inject(packets, segmentSizes) {
      if (closed) return false;
      const copies = packets.map((packet) => packet.slice());
      counts.packetsRead += copies.length;
      counts.readCalls += copies.length;
      for (const packet of copies) counts.bytesRead += packet.byteLength;
      if (segmentSizes) counts.superPacketsRead += segmentSizes.filter((size) => size > 0).length;
      if (handler) {
        if (copies.length > 0) handler(copies, segmentSizes ? Uint16Array.from(segmentSizes) : undefined);
        return true;
      }
      for (const packet of copies) {
        if (heldBytes + packet.byteLength > MAX_HELD_BYTES) {
          counts.readDropsNoHandler++;
          continue;
        }
        held.push(packet);
        heldBytes += packet.byteLength;
      }
      return true;
    },

    write(packet, segmentSize = 0) {
      if (segmentSize > 0) {
        const segments = gsoSplit(packet, segmentSize);
        if (typeof segments === "string") {
          counts.superPacketsRefused++;
          counts.writeErrors++;
          return false;
        }
        return segments.map((segment) => fake.write(segment)).every(Boolean);
      }
      if (closed || packet.byteLength === 0 || fake.onWrite?.(packet) === false) {
        counts.writeErrors++;
        return false;
      }
      written.push(packet.slice());
      counts.packetsWritten++;
      counts.writeCalls++;
      counts.bytesWritten += packet.byteLength;
      return true;
    },

    writePackets(packets, segmentSizes) {
      let count = 0;
      let bytes = 0;
      for (let i = 0; i < packets.length; i++) {
        const before = written.length;
        if (fake.write(packets[i]!, segmentSizes?.[i] ?? 0)) {
          count += written.length - before;
          for (let j = before; j < written.length; j++) bytes += written[j]!.length;
        }
      }
      return { packets: count, bytes };
    },

    async close() {
      closed = true;
      held = [];
      heldBytes = 0;
    },
  };
  return fake;
}
