// Data used per day and per month: counted from the relay's growing counters, written in batches.
import { describe, expect, it } from "vitest";
import { MemoryStorage } from "./storage-memory.js";
import { capLevel, dayKey, monthKey, oldestDayKept, UsageRecorder } from "./usage.js";

const at = (y: number, m: number, d: number, h = 12, min = 0) => new Date(y, m - 1, d, h, min).getTime();

function clock(start: number) {
  let now = start;
  return { now: () => now, set: (t: number) => (now = t) };
}

describe("day and month keys", () => {
  it("uses the phone's local calendar, zero-padded", () => {
    expect(dayKey(at(2026, 3, 7, 0, 0))).toBe("2026-03-07");
    expect(dayKey(at(2026, 12, 31, 23, 59))).toBe("2026-12-31");
    expect(monthKey(at(2026, 1, 1, 0, 0))).toBe("2026-01");
    expect(monthKey(at(2026, 11, 30))).toBe("2026-11");
  });

  it("names the oldest day kept across a month and a year boundary", () => {
    expect(oldestDayKept(at(2026, 1, 10), 10)).toBe("2025-12-31");
  });
});

describe("the monthly cap", () => {
  it("warns from 80 % and says reached from 100 %", () => {
    expect(capLevel(0, 1000)).toBe("none");
    expect(capLevel(799, 1000)).toBe("none");
    expect(capLevel(800, 1000)).toBe("near");
    expect(capLevel(999, 1000)).toBe("near");
    expect(capLevel(1000, 1000)).toBe("reached");
    expect(capLevel(5000, 1000)).toBe("reached");
  });

  it("never warns without a cap", () => {
    expect(capLevel(10 ** 12, undefined)).toBe("none");
    expect(capLevel(10 ** 12, 0)).toBe("none");
  });
});

describe("the usage recorder", () => {
  it("adds only what the counters grew by, and writes once per flush however many samples came", async () => {
    const store = new MemoryStorage();
    const time = clock(at(2026, 5, 4));
    const recorder = new UsageRecorder(store, time.now);
    await recorder.load();
    for (let i = 1; i <= 1000; i++) recorder.observe(i * 10, i * 100);
    expect(store.writes).toBe(0);
    expect(recorder.totals().today).toEqual({ up: 10_000, down: 100_000 });
    await recorder.flush();
    expect(store.writes).toBe(1);
    expect(store.days.get("2026-05-04")).toEqual({ up: 10_000, down: 100_000 });
    expect(store.months.get("2026-05")).toEqual({ up: 10_000, down: 100_000 });
    recorder.observe(10_500, 100_000);
    await recorder.flush();
    await recorder.flush(); // nothing pending: no write
    expect(store.writes).toBe(2);
    expect(recorder.totals().thisMonth).toEqual({ up: 10_500, down: 100_000 });
  });

  it("counts a new relay's counters (which start again from zero) as new bytes", async () => {
    const store = new MemoryStorage();
    const recorder = new UsageRecorder(store, clock(at(2026, 5, 4)).now);
    recorder.observe(5_000, 7_000);
    recorder.observe(100, 200); // a new Relay after switching laptops
    recorder.observe(150, 260);
    expect(recorder.totals().today).toEqual({ up: 5_150, down: 7_260 });
  });

  it("starts a new day and a new month at zero, keeping what earlier days stored", async () => {
    const store = new MemoryStorage();
    const time = clock(at(2026, 1, 31, 23, 59));
    const recorder = new UsageRecorder(store, time.now);
    recorder.observe(1_000, 0);
    await recorder.flush();
    time.set(at(2026, 2, 1, 0, 1));
    expect(recorder.totals()).toMatchObject({
      day: "2026-02-01",
      today: { up: 0, down: 0 },
      thisMonth: { up: 0, down: 0 },
    });
    recorder.observe(1_500, 0);
    await recorder.flush();
    expect(store.days.get("2026-01-31")).toEqual({ up: 1_000, down: 0 });
    expect(store.days.get("2026-02-01")).toEqual({ up: 500, down: 0 });
    expect(store.months.get("2026-01")).toEqual({ up: 1_000, down: 0 });
    expect(store.months.get("2026-02")).toEqual({ up: 500, down: 0 });
  });

  it("survives a reload: a new recorder loads what the last one stored", async () => {
    const store = new MemoryStorage();
    const time = clock(at(2026, 7, 14));
    const first = new UsageRecorder(store, time.now);
    first.observe(300, 4_000);
    await first.flush();
    const second = new UsageRecorder(store, time.now);
    await second.load();
    expect(second.totals().today).toEqual({ up: 300, down: 4_000 });
    second.observe(10, 10); // the reloaded page's relay starts from zero
    expect(second.totals().thisMonth).toEqual({ up: 310, down: 4_010 });
  });

  it("keeps the bytes of a failed write for the next one", async () => {
    const store = new MemoryStorage();
    let fail = true;
    const real = store.addUsage.bind(store);
    store.addUsage = async (...args) => {
      if (fail) throw new Error("QuotaExceededError");
      return real(...args);
    };
    const recorder = new UsageRecorder(store, clock(at(2026, 7, 14)).now);
    recorder.observe(100, 100);
    await expect(recorder.flush()).rejects.toThrow("QuotaExceededError");
    recorder.observe(150, 100);
    fail = false;
    await recorder.flush();
    expect(store.days.get("2026-07-14")).toEqual({ up: 150, down: 100 });
  });

  it("resets stored and pending counts to zero", async () => {
    const store = new MemoryStorage();
    const recorder = new UsageRecorder(store, clock(at(2026, 7, 14)).now);
    recorder.observe(100, 100);
    await recorder.flush();
    recorder.observe(200, 200);
    await recorder.reset();
    expect(recorder.totals().today).toEqual({ up: 0, down: 0 });
    expect(store.days.size).toBe(0);
    recorder.observe(260, 200);
    expect(recorder.totals().today).toEqual({ up: 60, down: 0 });
  });

  it("saves the totals outright when the page hides, in one write with no read first", async () => {
    const store = new MemoryStorage();
    const recorder = new UsageRecorder(store, clock(at(2026, 7, 14)).now);
    await store.addUsage("2026-07-14", "2026-07", { up: 1_000, down: 1_000 });
    await recorder.load();
    recorder.observe(10, 20);
    await recorder.save();
    expect(store.days.get("2026-07-14")).toEqual({ up: 1_010, down: 1_020 });
    expect(store.months.get("2026-07")).toEqual({ up: 1_010, down: 1_020 });
    const writes = store.writes;
    await recorder.save(); // nothing new: no write
    expect(store.writes).toBe(writes);
  });

  it("counts bytes being written in the totals, so the view never dips during a flush", async () => {
    const store = new MemoryStorage();
    const recorder = new UsageRecorder(store, clock(at(2026, 7, 14)).now);
    recorder.observe(100, 100);
    const flushing = recorder.flush();
    expect(recorder.totals().today).toEqual({ up: 100, down: 100 });
    await flushing;
    expect(recorder.totals().today).toEqual({ up: 100, down: 100 });
  });

  it("does not let a flush begun before a save roll the totals back when it ends", async () => {
    const store = new MemoryStorage();
    const recorder = new UsageRecorder(store, clock(at(2026, 7, 14)).now);
    recorder.observe(100, 0);
    const flushing = recorder.flush(); // adds 100 (the page is then hidden before it ends)
    recorder.observe(150, 0);
    await recorder.save(); // writes 150 outright
    await flushing;
    expect(recorder.totals().today).toEqual({ up: 150, down: 0 });
    expect(store.days.get("2026-07-14")).toEqual({ up: 150, down: 0 });
  });
});
