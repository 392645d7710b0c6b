// What happened the last time the app was out of sight: how long it was hidden and how long each
// leg's socket lived meanwhile (iOS Safari drops a page's sockets seconds after it is backgrounded;
// Android keeps them longer). Written at every change, so a page killed while hidden still leaves
// its story for the next start. Pure: the app feeds it the events and stores the record.

export type LegFate = "survived" | "not open" | number;

export interface HiddenRecord {
  hiddenAt: number;
  /** When the app was seen again; undefined: it never was (killed or reloaded while hidden). */
  visibleAt: number | undefined;
  /** How long each leg lived after the app was hidden, ms; "survived" if it was still open. */
  laptop: LegFate;
  exit: LegFate;
}

export class HiddenWatch {
  private record: HiddenRecord | undefined;

  /** The app was hidden, with these legs open. Returns the record to store. */
  hidden(now: number, open: { laptop: boolean; exit: boolean }): HiddenRecord {
    this.record = {
      hiddenAt: now,
      visibleAt: undefined,
      laptop: open.laptop ? "survived" : "not open",
      exit: open.exit ? "survived" : "not open",
    };
    return { ...this.record };
  }

  /** A leg closed; while hidden that is the end of its life. Returns the record to store, if it changed. */
  legClosed(name: "laptop" | "exit", now: number): HiddenRecord | undefined {
    const record = this.record;
    if (!record || record.visibleAt !== undefined || record[name] !== "survived") return undefined;
    record[name] = now - record.hiddenAt;
    return { ...record };
  }

  /** Seen again. Returns the finished record to store. */
  visible(now: number): HiddenRecord | undefined {
    const record = this.record;
    if (!record || record.visibleAt !== undefined) return undefined;
    record.visibleAt = now;
    return { ...record };
  }
}

function fate(name: string, value: LegFate): string {
  if (value === "survived") return `${name} leg stayed open`;
  if (value === "not open") return `${name} leg was not open`;
  return `${name} leg closed after ${(value / 1000).toFixed(1)} s`;
}

/** The record in one sentence, for the self-test's report. */
export function describeHidden(record: HiddenRecord | undefined): string {
  if (!record) return "not hidden yet since this was installed";
  const legs = `${fate("laptop", record.laptop)}, ${fate("exit", record.exit)}`;
  if (record.visibleAt === undefined)
    return `hidden at ${new Date(record.hiddenAt).toISOString()} and not seen again (the page was reloaded or killed); ${legs}`;
  return `hidden for ${((record.visibleAt - record.hiddenAt) / 1000).toFixed(1)} s; ${legs}`;
}
