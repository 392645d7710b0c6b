import { describe, expect, it } from "vitest";
import { CLIENT_SECRET_BYTES, formatClientKey, parseClientKey } from "./client-key.js";

const SECRET = "A".repeat(43); // 32 bytes of base64url

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return (error as { code: string }).code;
  }
  return "accepted";
}

describe("a client key", () => {
  it("reads NAME:SECRET as the exit prints it", () => {
    const key = parseClientKey(formatClientKey("alice-laptop", SECRET));
    expect(key.clientId).toBe("alice-laptop");
    expect(key.secret).toHaveLength(CLIENT_SECRET_BYTES);
  });

  it.each([
    ["nonsense", "CLIENT_KEY_FORMAT"],
    [`:${SECRET}`, "CLIENT_KEY_FORMAT"],
    [`bad name:${SECRET}`, "CLIENT_KEY_FORMAT"],
    ["alice:not+base64url", "CLIENT_KEY_FORMAT"],
    ["alice:AAAA", "CLIENT_KEY_LENGTH"],
  ])("refuses %j with %s", (text, code) => {
    expect(codeOf(() => parseClientKey(text))).toBe(code);
  });
});
