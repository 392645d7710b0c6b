import { describe, expect, it } from "vitest";
import { parseRequestTarget } from "./request-target.js";

describe("a request target", () => {
  it("gives the path and query of an origin-form target", () => {
    const target = parseRequestTarget("/tunnel?encoding=base64&x=1");
    expect(target?.pathname).toBe("/tunnel");
    expect(target?.searchParams.get("encoding")).toBe("base64");
  });

  it("reads a target starting with // as a path, not as another host", () => {
    expect(parseRequestTarget("//")?.pathname).toBe("//");
    expect(parseRequestTarget("//evil.example/tunnel")?.pathname).toBe("//evil.example/tunnel");
  });

  it.each([undefined, "", "*", "http://x/tunnel", "tunnel", "http://[", "\\\\"])(
    "is no target for %j",
    (text) => {
      expect(parseRequestTarget(text)).toBeUndefined();
    },
  );

  it("never throws, whatever the bytes", () => {
    for (let i = 0; i < 2_000; i++) {
      const text = `/${String.fromCharCode(...Array.from({ length: i % 40 }, (_, j) => (i * 31 + j * 7) % 256))}`;
      expect(() => parseRequestTarget(text)).not.toThrow();
    }
  });
});
