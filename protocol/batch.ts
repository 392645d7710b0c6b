// Packs packets that are ready together into as few DATA frames as the limits allow. No timer:
// a lone packet goes out alone, at once; packets that queued up while the sender was busy share
// one frame, which is what keeps per-message costs (dominant in the browser) low.
import { dataFrameBytes, encodeData } from "./codec.js";
import { MAX_DATA_FRAME_BYTES, MAX_PACKET_BYTES, MAX_PACKETS_PER_FRAME } from "./limits.js";

/**
 * Calls `send` with each DATA frame for `packets`, in order. Packets over MAX_PACKET_BYTES are
 * skipped and counted in the return value (they cannot be framed); everything else is sent.
 */
export function packDataFrames(
  packets: readonly Uint8Array[],
  send: (frame: Uint8Array) => void,
  maxPacketsPerFrame = MAX_PACKETS_PER_FRAME,
): number {
  let oversized = 0;
  let start = 0;
  while (start < packets.length) {
    let end = start;
    let bytes = 0;
    while (end < packets.length && end - start < maxPacketsPerFrame) {
      const length = packets[end]!.length;
      if (length > MAX_PACKET_BYTES || length === 0) {
        if (end === start) {
          oversized++;
          start++;
          end++;
          continue;
        }
        break;
      }
      if (dataFrameBytes(bytes + length, end - start + 1) > MAX_DATA_FRAME_BYTES) break;
      bytes += length;
      end++;
    }
    if (end > start) {
      send(encodeData(start === 0 && end === packets.length ? packets : packets.slice(start, end)));
      start = end;
    }
  }
  return oversized;
}
