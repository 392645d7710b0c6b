import { describe, expect, it } from "vitest";
import { fold, sumWords } from "./gso-checksum.js";

/** One byte pair at a time, folded at the end: the definition (RFC 1071). */
function naive(bytes: Uint8Array, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i += 2) sum += bytes[i]! * 256 + (i + 1 < end ? bytes[i + 1]! : 0);
  return fold(sum);
}

describe("sumWords", () => {
  it("agrees with the byte-pair definition at every alignment, length and fill", () => {
    const buffer = new Uint8Array(70_000);
    let seed = 12345;
    for (let i = 0; i < buffer.length; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      buffer[i] = seed >>> 24;
    }
    const ones = new Uint8Array(70_000).fill(0xff);
    for (const bytes of [buffer, ones, new Uint8Array(70_000)]) {
      for (const offset of [0, 1, 2, 3, 5]) {
        const view = bytes.subarray(offset);
        for (const [start, end] of [
          [0, 65_535],
          [1, 127],
          [0, 128],
          [2, 1_501],
          [20, 65_000],
          [3, 3],
          [7, 300],
        ] as const) {
          expect(fold(sumWords(view, start, end))).toBe(naive(view, start, end));
        }
      }
    }
  });
});
