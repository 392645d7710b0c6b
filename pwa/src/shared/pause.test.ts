// When the app says "Tether paused, tap to resume", and when it takes it back.
import { describe, expect, it } from "vitest";
import { PAUSE_NOTICE_DELAY_MS, PauseWatch } from "./pause.js";

describe("the pause notice", () => {
  it("shows once the relay has been stopped for a while with the app hidden, and only once", () => {
    const watch = new PauseWatch();
    expect(watch.tick(true, true, 0)).toBeUndefined();
    expect(watch.tick(false, true, 1_000)).toBeUndefined();
    expect(watch.tick(false, true, 1_000 + PAUSE_NOTICE_DELAY_MS - 1)).toBeUndefined();
    expect(watch.tick(false, true, 1_000 + PAUSE_NOTICE_DELAY_MS)).toBe("show");
    expect(watch.tick(false, true, 60_000)).toBeUndefined();
  });

  it("takes the notice back when relaying again", () => {
    const watch = new PauseWatch();
    watch.tick(true, true, 0);
    watch.tick(false, true, 1);
    expect(watch.tick(false, true, 1 + PAUSE_NOTICE_DELAY_MS)).toBe("show");
    expect(watch.tick(true, true, 10_000)).toBe("close");
    expect(watch.tick(true, true, 10_250)).toBeUndefined();
  });

  it("says nothing for a blip, while the app is in sight, or before it ever relayed", () => {
    const watch = new PauseWatch();
    expect(watch.tick(false, true, 0)).toBeUndefined();
    expect(watch.tick(false, true, 60_000)).toBeUndefined(); // never relayed: nothing paused
    watch.tick(true, false, 61_000);
    expect(watch.tick(false, false, 62_000)).toBeUndefined();
    expect(watch.tick(false, false, 62_000 + PAUSE_NOTICE_DELAY_MS)).toBeUndefined(); // visible: the page says it
    expect(watch.tick(true, true, 70_000)).toBeUndefined(); // back within the delay once hidden
  });

  it("shows at once when the browser freezes a relaying page", () => {
    const watch = new PauseWatch();
    expect(watch.freezing()).toBeUndefined();
    watch.tick(true, true, 0);
    expect(watch.freezing()).toBe("show");
    expect(watch.freezing()).toBeUndefined();
  });
});
