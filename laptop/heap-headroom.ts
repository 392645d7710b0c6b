// How much V8 lets the laptop's heap grow between two full collections. The laptop forwards bulk
// traffic through a small heap (about 11 MB live): every 64 KiB super-packet passes through a few
// short-lived buffers, and V8's own growth heuristic, seeing full collections that take a few ms
// each, keeps the old generation's limit so close to its live size that incremental marking starts
// again right after each one. Measured in the bench's chain (issue 12), that is a full collection
// every 4-6 MB forwarded (150-340 per GB), and V8's marking threads spent 0.4-0.7 CPU-s per Gbit
// beside the main thread's ~0.7. A fixed, generous growth factor takes them to 0-6 per GB.
import { setFlagsFromString } from "node:v8";

/**
 * How far the old generation may grow past the live heap at each full collection, percent (V8's
 * --heap-growing-percent): 300 lets it reach 4x the live size, about 45 MB for the laptop's ~11 MB,
 * before the next one. Its own choice there is 10-50 %. Measured at 100 %: no fewer collections.
 */
export const HEAP_GROWING_PERCENT = 300;

/**
 * Sets V8's heap growth for this process (read at each full collection, so it applies from the
 * next one on). For the laptop's entry point only: it is process-wide.
 */
export function growHeapForForwarding(setFlags: (flags: string) => void = setFlagsFromString): void {
  setFlags(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
