// A detached session's hold, as a spec: packets wait a moment and come back oldest first, copied;
// bounded in bytes (the oldest fall out) and in age; whatever falls out is reported for counting.
import { describe, expect, it } from "vitest";
import { DetachedHold, HOLD_MAX_AGE_MS, HOLD_MAX_BYTES } from "./detached-hold.js";

const packet = (bytes: number, fill: number) => new Uint8Array(bytes).fill(fill);

describe("DetachedHold", () => {
  it("gives back what it held, oldest first, once, as copies", () => {
    const hold = new DetachedHold();
    const batch = new Uint8Array(300).fill(7);
    const views = [batch.subarray(0, 100), batch.subarray(100, 300)];
    expect(hold.hold(views, 0)).toBe(0);
    batch.fill(9); // the TUN's read buffer reused: the held copies do not change
    const { packets, expired } = hold.take(10);
    expect(expired).toBe(0);
    expect(packets.map((p) => [p.length, p[0]])).toEqual([
      [100, 7],
      [200, 7],
    ]);
    expect(packets[0]!.buffer).not.toBe(batch.buffer);
    expect(hold.take(20).packets).toEqual([]);
  });

  it(`keeps at most ${HOLD_MAX_BYTES / 1024} KiB: the oldest fall out and are reported`, () => {
    const hold = new DetachedHold();
    const count = HOLD_MAX_BYTES / 1024;
    expect(
      hold.hold(
        Array.from({ length: count }, (_, i) => packet(1024, i % 256)),
        0,
      ),
    ).toBe(0);
    expect(hold.hold([packet(1024, 0xaa), packet(1024, 0xbb)], 1)).toBe(2);
    const { packets } = hold.take(2);
    expect(packets).toHaveLength(count);
    expect(packets[0]![0]).toBe(2); // packets 0 and 1 went
    expect(packets.at(-1)![0]).toBe(0xbb);
  });

  it(`sends nothing older than ${HOLD_MAX_AGE_MS} ms: expired at the next hold or at the take, reported`, () => {
    const hold = new DetachedHold();
    hold.hold([packet(40, 1), packet(40, 2)], 0);
    hold.hold([packet(40, 3)], HOLD_MAX_AGE_MS);
    expect(hold.hold([packet(40, 4)], HOLD_MAX_AGE_MS + 1)).toBe(2); // the first two expired
    const { packets, expired } = hold.take(2 * HOLD_MAX_AGE_MS + 0.5);
    expect(expired).toBe(1); // the third: held at HOLD_MAX_AGE_MS
    expect(packets.map((p) => p[0])).toEqual([4]);
  });

  it("refuses a packet larger than its whole budget, reported as dropped", () => {
    const hold = new DetachedHold(100, HOLD_MAX_AGE_MS);
    expect(hold.hold([packet(101, 1), packet(60, 2), packet(60, 3)], 0)).toBe(2);
    expect(hold.size).toBe(1);
    expect(hold.take(0).packets.map((p) => p[0])).toEqual([3]);
  });
});
