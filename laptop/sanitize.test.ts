import { describe, expect, it } from "vitest";
import { MAX_PEER_STRING_CHARS, printable } from "./sanitize.js";

describe("a peer's string on the terminal", () => {
  it("keeps ordinary text, accents and emoji as they are", () => {
    expect(printable("the exit is shutting down (SHUTTING_DOWN) é ✓")).toBe(
      "the exit is shutting down (SHUTTING_DOWN) é ✓",
    );
  });

  it("escapes terminal escape sequences, so they cannot move the cursor or set the title", () => {
    expect(printable("\u001b[2J\u001b]0;pwned\u0007ok")).toBe("\\u{1b}[2J\\u{1b}]0;pwned\\u{7}ok");
    expect(printable("a\rb\nc\u009bd\u007f")).toBe("a\\u{d}b\\u{a}c\\u{9b}d\\u{7f}");
  });

  it("escapes bidi controls, so the text reads as it is", () => {
    expect(printable("key \u202eliated\u202c ok")).toBe("key \\u{202e}liated\\u{202c} ok");
    expect(printable("\u2066x\u2069\u2028")).toBe("\\u{2066}x\\u{2069}\\u{2028}");
  });

  it("is bounded", () => {
    const long = printable("x".repeat(10_000));
    expect(long.length).toBe(MAX_PEER_STRING_CHARS + 1);
    expect(long.endsWith("…")).toBe(true);
  });
});
