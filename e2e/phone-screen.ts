// What the phone app's screen shows, read through the hooks the app keeps stable for tests and the
// demo (agreed with the app's owner on the coordination board): the status line `#message`, data
// used `#usage-today` (exact count in `data-bytes`), the round trip `#rtt-e2e`, and
// `body[data-relaying]`. Read once, never waiting: a hook the app no longer has reads as
// undefined instead of hanging the caller.
import type { Page } from "playwright-core";

export interface PhoneScreen {
  /** The status line, in words. */
  message: string | undefined;
  /** "true" while the page relays both legs. */
  relaying: string | undefined;
  /** Data used today as shown ("20.1 MB"). */
  usageToday: string | undefined;
  /** The exact byte count behind usageToday. */
  usageTodayBytes: number | undefined;
  /** Round trip laptop <-> exit as shown. */
  roundTrip: string | undefined;
}

export async function readPhoneScreen(page: Page): Promise<PhoneScreen> {
  // A string, evaluated in the page: this project's Node code is type-checked without the DOM.
  const raw = (await page.evaluate(`(() => {
    const text = (id) => document.getElementById(id)?.textContent?.trim() || undefined;
    return {
      message: text("message"),
      relaying: document.body?.dataset.relaying,
      usageToday: text("usage-today"),
      usageTodayBytes: document.getElementById("usage-today")?.dataset.bytes,
      roundTrip: text("rtt-e2e"),
    };
  })()`)) as Omit<PhoneScreen, "usageTodayBytes"> & { usageTodayBytes: string | undefined };
  const bytes = raw.usageTodayBytes === undefined ? Number.NaN : Number(raw.usageTodayBytes);
  return { ...raw, usageTodayBytes: Number.isSafeInteger(bytes) ? bytes : undefined };
}
