// The replay window, as a spec, and against a model (a plain set of every counter accepted).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { REPLAY_WINDOW_FRAMES, ReplayWindow } from "./replay-window.js";

function take(window: ReplayWindow, counter: number): string {
  const verdict = window.check(counter);
  if (verdict === "fresh") window.accept(counter);
  return verdict;
}

describe("ReplayWindow", () => {
  it("accepts counters in order, each once", () => {
    const window = new ReplayWindow();
    for (let n = 0; n < 100; n++) expect(take(window, n)).toBe("fresh");
    for (let n = 0; n < 100; n++) expect(take(window, n)).toBe("replayed");
    expect(window.highest).toBe(99);
  });

  it("accepts counters reordered within the window, and each of them once", () => {
    const window = new ReplayWindow();
    expect(take(window, 5000)).toBe("fresh");
    expect(take(window, 10)).toBe("fresh");
    expect(take(window, 4999)).toBe("fresh");
    expect(take(window, 10)).toBe("replayed");
    expect(take(window, 4999)).toBe("replayed");
  });

  it(`refuses counters ${REPLAY_WINDOW_FRAMES} or more behind the newest as too_old`, () => {
    const window = new ReplayWindow();
    const top = 100_000;
    take(window, top);
    expect(window.check(top - REPLAY_WINDOW_FRAMES)).toBe("too_old");
    expect(window.check(top - REPLAY_WINDOW_FRAMES + 1)).toBe("fresh");
    expect(window.check(0)).toBe("too_old");
  });

  it("does not record anything on check: only an authenticated frame's accept moves the window", () => {
    const window = new ReplayWindow();
    take(window, 1);
    expect(window.check(1_000_000)).toBe("fresh");
    expect(window.highest).toBe(1);
    expect(window.check(0)).toBe("fresh");
  });

  it("forgets old bits when the top jumps past a whole ring, and keeps working near 2^53", () => {
    const window = new ReplayWindow();
    for (let n = 0; n < 64; n++) take(window, n);
    // One ring later the same word positions come back: they must be clear.
    const ring = 256 * 32;
    expect(take(window, ring + 3)).toBe("fresh");
    expect(take(window, ring + 5)).toBe("fresh");
    expect(take(window, ring + 5)).toBe("replayed");
    const high = Number.MAX_SAFE_INTEGER - 10;
    expect(take(window, high)).toBe("fresh");
    expect(take(window, high - 1)).toBe("fresh");
    expect(take(window, high)).toBe("replayed");
    expect(take(window, Number.MAX_SAFE_INTEGER)).toBe("fresh");
  });

  it("agrees with a model (a set of every accepted counter) on any sequence", () => {
    const counter = fc.oneof(
      fc.integer({ min: 0, max: 40_000 }),
      fc.integer({ min: 0, max: 300 }),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    );
    fc.assert(
      fc.property(fc.array(counter, { maxLength: 300 }), (counters) => {
        const window = new ReplayWindow();
        const seen = new Set<number>();
        let top = -1;
        for (const n of counters) {
          const expected = n <= top - REPLAY_WINDOW_FRAMES ? "too_old" : seen.has(n) ? "replayed" : "fresh";
          expect(take(window, n)).toBe(expected);
          if (expected === "fresh") {
            seen.add(n);
            top = Math.max(top, n);
          }
        }
      }),
      { numRuns: 2000, seed: 0x6479 },
    );
  });
});
