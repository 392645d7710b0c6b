// The story of the last time the app was hidden, as the self-test tells it.
import { describe, expect, it } from "vitest";
import { describeHidden, HiddenWatch } from "./hidden-watch.js";

describe("what happened while the app was hidden", () => {
  it("times how long each leg lived after hiding, and how long the app was hidden", () => {
    const watch = new HiddenWatch();
    watch.hidden(1_000, { laptop: true, exit: true });
    expect(watch.legClosed("exit", 5_100)).toMatchObject({ exit: 4_100, laptop: "survived" });
    expect(watch.legClosed("exit", 6_000)).toBeUndefined(); // its first close is its end
    const record = watch.visible(13_000);
    expect(record).toEqual({ hiddenAt: 1_000, visibleAt: 13_000, laptop: "survived", exit: 4_100 });
    expect(describeHidden(record)).toBe(
      "hidden for 12.0 s; laptop leg stayed open, exit leg closed after 4.1 s",
    );
  });

  it("ignores closes after the app was seen again, and says when it never was", () => {
    const watch = new HiddenWatch();
    const record = watch.hidden(0, { laptop: true, exit: false });
    expect(watch.legClosed("exit", 10)).toBeUndefined();
    expect(describeHidden(record)).toMatch(
      /not seen again .* laptop leg stayed open, exit leg was not open$/,
    );
    watch.visible(100);
    expect(watch.legClosed("laptop", 200)).toBeUndefined();
    expect(describeHidden(undefined)).toBe("not hidden yet since this was installed");
  });
});
