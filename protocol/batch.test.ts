import { describe, expect, it } from "vitest";
import { packDataFrames } from "./batch.js";
import { decodeFrame } from "./codec.js";
import { FrameType } from "./frames.js";
import { MAX_DATA_FRAME_BYTES, MAX_PACKET_BYTES, MAX_PACKETS_PER_FRAME } from "./limits.js";

function pack(packets: Uint8Array[]) {
  const frames: Uint8Array[] = [];
  const oversized = packDataFrames(packets, (frame) => frames.push(frame));
  const decoded = frames.map((frame) => {
    const decodedFrame = decodeFrame(frame);
    if (decodedFrame?.type !== FrameType.DATA) throw new Error("not DATA");
    return decodedFrame.packets;
  });
  return { frames, decoded, oversized };
}

describe("packing ready packets into DATA frames", () => {
  it("sends a lone packet alone, at once", () => {
    const { decoded } = pack([new Uint8Array([0x45, 1, 2])]);
    expect(decoded).toEqual([[new Uint8Array([0x45, 1, 2])]]);
  });

  it("puts packets that are ready together into one frame, in order", () => {
    const packets = Array.from({ length: 10 }, (_, i) => new Uint8Array(100).fill(i));
    const { decoded } = pack(packets);
    expect(decoded).toHaveLength(1);
    expect(decoded[0]).toEqual(packets);
  });

  it("splits at the packets-per-frame and bytes-per-frame limits", () => {
    const many = Array.from({ length: MAX_PACKETS_PER_FRAME + 1 }, () => new Uint8Array(20));
    expect(pack(many).decoded.map((p) => p.length)).toEqual([MAX_PACKETS_PER_FRAME, 1]);
    const big = Array.from({ length: 20 }, () => new Uint8Array(60_000));
    const { frames, decoded } = pack(big);
    expect(frames.every((frame) => frame.length <= MAX_DATA_FRAME_BYTES)).toBe(true);
    expect(decoded.flat()).toHaveLength(20);
  });

  it("skips and counts packets that cannot be framed, sending the rest", () => {
    const { decoded, oversized } = pack([
      new Uint8Array(10),
      new Uint8Array(MAX_PACKET_BYTES + 1),
      new Uint8Array(0),
      new Uint8Array(11),
    ]);
    expect(oversized).toBe(2);
    expect(decoded.flat().map((p) => p.length)).toEqual([10, 11]);
  });
});
