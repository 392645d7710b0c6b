// The storage's fake, beside the real one: the same contract in memory, for tests and for a
// browser where IndexedDB is unavailable (some private modes): the app still relays, it only
// forgets when closed.
import type { StoredPairing } from "./pairings.js";
import type { Settings, Storage } from "./storage.js";
import type { Usage } from "./usage.js";

export class MemoryStorage implements Storage {
  readonly days = new Map<string, Usage>();
  readonly months = new Map<string, Usage>();
  private readonly pairingRecords = new Map<string, StoredPairing>();
  private readonly settings = new Map<keyof Settings, unknown>();
  /** Writes seen, so tests can check they are batched. */
  writes = 0;

  async pairings(): Promise<StoredPairing[]> {
    return [...this.pairingRecords.values()].map((p) => ({ ...p }));
  }

  async putPairing(pairing: StoredPairing): Promise<void> {
    this.writes++;
    this.pairingRecords.set(pairing.id, { ...pairing });
  }

  async deletePairing(id: string): Promise<void> {
    this.writes++;
    this.pairingRecords.delete(id);
  }

  async getSetting<K extends keyof Settings>(key: K): Promise<Settings[K] | undefined> {
    return this.settings.get(key) as Settings[K] | undefined;
  }

  async setSetting<K extends keyof Settings>(key: K, value: Settings[K] | undefined): Promise<void> {
    this.writes++;
    if (value === undefined) this.settings.delete(key);
    else this.settings.set(key, value);
  }

  async addUsage(day: string, month: string, usage: Usage): Promise<{ today: Usage; month: Usage }> {
    this.writes++;
    const plus = (old: Usage | undefined): Usage => ({
      up: (old?.up ?? 0) + usage.up,
      down: (old?.down ?? 0) + usage.down,
    });
    const today = plus(this.days.get(day));
    const thisMonth = plus(this.months.get(month));
    this.days.set(day, today);
    this.months.set(month, thisMonth);
    return { today: { ...today }, month: { ...thisMonth } };
  }

  async putUsage(day: string, month: string, totals: { today: Usage; month: Usage }): Promise<void> {
    this.writes++;
    this.days.set(day, { ...totals.today });
    this.months.set(month, { ...totals.month });
  }

  async usage(day: string, month: string): Promise<{ today: Usage; month: Usage }> {
    return {
      today: { ...(this.days.get(day) ?? { up: 0, down: 0 }) },
      month: { ...(this.months.get(month) ?? { up: 0, down: 0 }) },
    };
  }

  async resetUsage(): Promise<void> {
    this.writes++;
    this.days.clear();
    this.months.clear();
  }
}
