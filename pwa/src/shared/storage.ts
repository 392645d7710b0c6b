// The app's one storage module: IndexedDB through idb, with a typed schema and one upgrade step
// per version. It keeps the pairings (so a reload or a launch from the home screen resumes by
// itself), the bytes used per day and per month, and a few settings. Writes come batched from
// their callers (usage every few seconds, never per packet).
//
// Runs wherever IndexedDB does (page, worker, service worker): no DOM here.
import { type DBSchema, type IDBPDatabase, type IDBPTransaction, openDB, type StoreNames } from "idb";
import type { HiddenRecord } from "./hidden-watch.js";
import type { StoredPairing } from "./pairings.js";
import type { Usage, UsageStore } from "./usage.js";
import { oldestDayKept } from "./usage.js";

export const DB_NAME = "tether";
/** Days of per-day usage kept (months are kept for good; they are 12 records a year). */
export const USAGE_DAYS_KEPT = 400;

export interface Settings {
  /** The pairing to dial when the app opens without a link. */
  chosenPairing: string;
  /** Monthly data cap in bytes; absent: no cap. */
  capBytes: number;
  /** Keep the screen on while relaying (on unless the user turned it off). */
  wakeLock: boolean;
  /** The result of navigator.storage.persist(), once asked. */
  persisted: boolean;
  /** The user paused relaying: the app opens paused and dials nothing until they resume. */
  paused: boolean;
  /** The last time the app was hidden, and how long its sockets lived (for the self-test). */
  lastHidden: HiddenRecord;
}

interface TetherSchema extends DBSchema {
  pairings: { key: string; value: StoredPairing };
  /** Key: local day YYYY-MM-DD. */
  days: { key: string; value: Usage & { day: string } };
  /** Key: local month YYYY-MM. */
  months: { key: string; value: Usage & { month: string } };
  settings: { key: keyof Settings; value: Settings[keyof Settings] };
}

type Upgrade = (
  db: IDBPDatabase<TetherSchema>,
  tx: IDBPTransaction<TetherSchema, StoreNames<TetherSchema>[], "versionchange">,
) => void;

/**
 * One step per version, never edited once released: a phone on version N runs steps N+1.. in
 * order. Add a step (and so a version) for every schema change.
 */
const UPGRADES: readonly Upgrade[] = [
  // v1: pairings, usage per day and per month, settings.
  (db) => {
    db.createObjectStore("pairings", { keyPath: "id" });
    db.createObjectStore("days", { keyPath: "day" });
    db.createObjectStore("months", { keyPath: "month" });
    db.createObjectStore("settings");
  },
];

export const DB_VERSION = UPGRADES.length;

/** What the app keeps. IndexedDB in the app; MemoryStorage (storage-memory.ts) in tests. */
export interface Storage extends UsageStore {
  pairings(): Promise<StoredPairing[]>;
  putPairing(pairing: StoredPairing): Promise<void>;
  deletePairing(id: string): Promise<void>;
  getSetting<K extends keyof Settings>(key: K): Promise<Settings[K] | undefined>;
  /** Sets a setting; undefined deletes it. */
  setSetting<K extends keyof Settings>(key: K, value: Settings[K] | undefined): Promise<void>;
}

export class IdbStorage implements Storage {
  private pruned = false;

  private constructor(private readonly db: IDBPDatabase<TetherSchema>) {}

  static async open(name = DB_NAME): Promise<IdbStorage> {
    let storage: IdbStorage | undefined;
    const db = await openDB<TetherSchema>(name, DB_VERSION, {
      upgrade(database, oldVersion, _newVersion, tx) {
        for (let version = oldVersion; version < DB_VERSION; version++) UPGRADES[version]!(database, tx);
      },
      // A newer app in another tab wants to upgrade: let it (this tab reloads into it later).
      blocking() {
        storage?.db.close();
      },
    });
    storage = new IdbStorage(db);
    return storage;
  }

  async pairings(): Promise<StoredPairing[]> {
    return this.db.getAll("pairings");
  }

  async putPairing(pairing: StoredPairing): Promise<void> {
    await this.db.put("pairings", pairing);
  }

  async deletePairing(id: string): Promise<void> {
    await this.db.delete("pairings", id);
  }

  async getSetting<K extends keyof Settings>(key: K): Promise<Settings[K] | undefined> {
    return (await this.db.get("settings", key)) as Settings[K] | undefined;
  }

  async setSetting<K extends keyof Settings>(key: K, value: Settings[K] | undefined): Promise<void> {
    if (value === undefined) await this.db.delete("settings", key);
    else await this.db.put("settings", value, key);
  }

  async addUsage(day: string, month: string, usage: Usage): Promise<{ today: Usage; month: Usage }> {
    const tx = this.db.transaction(["days", "months"], "readwrite");
    const days = tx.objectStore("days");
    const months = tx.objectStore("months");
    const [oldDay, oldMonth] = await Promise.all([days.get(day), months.get(month)]);
    const today = { up: (oldDay?.up ?? 0) + usage.up, down: (oldDay?.down ?? 0) + usage.down };
    const thisMonth = { up: (oldMonth?.up ?? 0) + usage.up, down: (oldMonth?.down ?? 0) + usage.down };
    await Promise.all([days.put({ day, ...today }), months.put({ month, ...thisMonth })]);
    if (!this.pruned) {
      // Once per run: days past the window go (a bounded store, whatever the phone's age).
      this.pruned = true;
      await days.delete(IDBKeyRange.upperBound(oldestDayKept(Date.now(), USAGE_DAYS_KEPT), true));
    }
    await tx.done;
    return { today, month: thisMonth };
  }

  putUsage(day: string, month: string, totals: { today: Usage; month: Usage }): Promise<void> {
    // Both puts are issued before this returns: nothing waits on a read.
    const tx = this.db.transaction(["days", "months"], "readwrite");
    void tx.objectStore("days").put({ day, ...totals.today });
    void tx.objectStore("months").put({ month, ...totals.month });
    // Commit now rather than when this task ends: an unloading page may not see it end.
    tx.commit();
    return tx.done;
  }

  async usage(day: string, month: string): Promise<{ today: Usage; month: Usage }> {
    const tx = this.db.transaction(["days", "months"], "readonly");
    const [today, thisMonth] = await Promise.all([
      tx.objectStore("days").get(day),
      tx.objectStore("months").get(month),
    ]);
    await tx.done;
    return {
      today: { up: today?.up ?? 0, down: today?.down ?? 0 },
      month: { up: thisMonth?.up ?? 0, down: thisMonth?.down ?? 0 },
    };
  }

  async resetUsage(): Promise<void> {
    const tx = this.db.transaction(["days", "months"], "readwrite");
    await Promise.all([tx.objectStore("days").clear(), tx.objectStore("months").clear(), tx.done]);
  }
}
