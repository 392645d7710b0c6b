// Data used, as a metered plan counts it: bytes relayed per local day and per calendar month.
// The relay's counters grow with every frame; this turns them into a few writes: each sample only
// adds the difference to a pending sum in memory, and flush() writes that sum (every few seconds,
// and when the page is hidden), never once per packet.

/** Between two writes of the pending sum, ms: at most this much is lost if the page is killed. */
export const USAGE_FLUSH_MS = 5_000;
/** Warn when this share of the monthly cap is used. */
export const CAP_WARN_FRACTION = 0.8;

/** Local calendar day of `ms`, YYYY-MM-DD: the user's day, not UTC's. */
export function dayKey(ms: number): string {
  const date = new Date(ms);
  return `${monthKey(ms)}-${String(date.getDate()).padStart(2, "0")}`;
}

/** Local calendar month of `ms`, YYYY-MM. */
export function monthKey(ms: number): string {
  const date = new Date(ms);
  return `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, "0")}`;
}

/** The oldest day kept: days before are pruned (months are kept; there are 12 a year). */
export function oldestDayKept(ms: number, days: number): string {
  const date = new Date(ms);
  date.setDate(date.getDate() - days);
  return dayKey(date.getTime());
}

export type CapLevel = "none" | "near" | "reached";

/** Where `used` stands against an optional cap: under 80 %, from 80 %, from 100 %. */
export function capLevel(used: number, cap: number | undefined): CapLevel {
  if (!cap || cap <= 0) return "none";
  if (used >= cap) return "reached";
  if (used >= cap * CAP_WARN_FRACTION) return "near";
  return "none";
}

export interface Usage {
  up: number;
  down: number;
}

export const total = (usage: Usage): number => usage.up + usage.down;

/** The storage the recorder writes through (IndexedDB in the app, memory in tests). */
export interface UsageStore {
  /** Adds bytes to a day and its month in one transaction; resolves with their new totals. */
  addUsage(day: string, month: string, usage: Usage): Promise<{ today: Usage; month: Usage }>;
  /**
   * Sets a day's and a month's totals, with every request issued before this returns: the one
   * write that still lands when the page is being unloaded (no read, so no round trip first).
   */
  putUsage(day: string, month: string, totals: { today: Usage; month: Usage }): Promise<void>;
  /** The totals of one day and one month (zero when nothing is stored). */
  usage(day: string, month: string): Promise<{ today: Usage; month: Usage }>;
  /** Forgets every count. */
  resetUsage(): Promise<void>;
}

export interface UsageTotals {
  day: string;
  month: string;
  today: Usage;
  thisMonth: Usage;
}

/**
 * Counts in three parts: `stored` (what the store holds, as of the last write), `inflight` (being
 * added now) and `pending` (not written yet). Every few seconds flush() adds pending to the store
 * (read, add, write: correct even if another tab wrote meanwhile). When the page is hidden or
 * unloaded, save() writes the totals outright, in requests issued at once, since an unloading page
 * gets no second turn for a read-then-write; only the relaying tab has bytes to count (one relay
 * per phone), so its totals are the store's.
 */
export class UsageRecorder {
  private stored: UsageTotals;
  private inflight: Usage = zero();
  private pending: Usage = zero();
  private last: Usage | undefined;
  private flushing: Promise<void> | undefined;
  /** Bumped by save() and reset(): a flush begun before them must not touch `stored` after. */
  private epoch = 0;

  constructor(
    private readonly store: UsageStore,
    private readonly now: () => number = Date.now,
  ) {
    const at = now();
    this.stored = { day: dayKey(at), month: monthKey(at), today: zero(), thisMonth: zero() };
  }

  /** Reads what is stored for today and this month. */
  async load(): Promise<void> {
    const at = this.now();
    const day = dayKey(at);
    const month = monthKey(at);
    const stored = await this.store.usage(day, month);
    this.stored = { day, month, today: stored.today, thisMonth: stored.month };
  }

  /**
   * The relay's running totals, read at a sample. Only the growth since the last call counts; a
   * counter that went backwards belongs to a new relay, which started from zero.
   */
  observe(up: number, down: number): void {
    const last = this.last;
    this.last = { up, down };
    this.pending.up += last && up >= last.up ? up - last.up : up;
    this.pending.down += last && down >= last.down ? down - last.down : down;
  }

  /** Today's and this month's totals, stored and not, as of now (a new day starts at zero). */
  totals(): UsageTotals {
    const at = this.now();
    const day = dayKey(at);
    const month = monthKey(at);
    const unwritten = add(this.inflight, this.pending);
    return {
      day,
      month,
      today: add(day === this.stored.day ? this.stored.today : zero(), unwritten),
      thisMonth: add(month === this.stored.month ? this.stored.thisMonth : zero(), unwritten),
    };
  }

  /** Adds the pending bytes to the store; one write at a time, none when nothing is pending. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing.then(() => this.flush());
    if (this.pending.up === 0 && this.pending.down === 0) return Promise.resolve();
    const epoch = this.epoch;
    const batch = this.pending;
    this.inflight = batch;
    this.pending = zero();
    const at = this.now();
    const day = dayKey(at);
    const month = monthKey(at);
    this.flushing = this.store
      .addUsage(day, month, batch)
      .then(
        (stored) => {
          if (epoch !== this.epoch) return;
          this.stored = { day, month, today: stored.today, thisMonth: stored.month };
          this.inflight = zero();
        },
        (error: unknown) => {
          if (epoch === this.epoch) {
            // Kept for the next try rather than lost.
            this.pending = add(this.pending, this.inflight);
            this.inflight = zero();
          }
          throw error;
        },
      )
      .finally(() => {
        this.flushing = undefined;
      });
    return this.flushing;
  }

  /** Writes the totals outright, at once: for a page being hidden or unloaded. */
  save(): Promise<void> {
    if (
      this.pending.up === 0 &&
      this.pending.down === 0 &&
      this.inflight.up === 0 &&
      this.inflight.down === 0
    )
      return Promise.resolve();
    this.epoch++;
    const totals = this.totals();
    this.stored = totals;
    this.inflight = zero();
    this.pending = zero();
    return this.store.putUsage(totals.day, totals.month, { today: totals.today, month: totals.thisMonth });
  }

  /** Forgets every count, stored and pending. */
  async reset(): Promise<void> {
    this.epoch++;
    await this.flushing?.catch(() => undefined);
    this.pending = zero();
    this.inflight = zero();
    await this.store.resetUsage();
    const at = this.now();
    this.stored = { day: dayKey(at), month: monthKey(at), today: zero(), thisMonth: zero() };
  }
}

function zero(): Usage {
  return { up: 0, down: 0 };
}

function add(a: Usage, b: Usage): Usage {
  return { up: a.up + b.up, down: a.down + b.down };
}
