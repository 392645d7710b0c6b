import { Buffer } from "node:buffer";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeFrame } from "./codec.js";
import { type ErrorCode, ErrorCodes, ProtocolError } from "./errors.js";
import { FrameType, Hop } from "./frames.js";
import { MAX_FRAME_BYTES, MAX_TEXT_FRAME_CHARS } from "./limits.js";
import { fromText, toText } from "./text.js";

// Node's Buffer is the reference here, and only here: text.ts itself must run in a browser.
const oracle = {
  encode: (bytes: Uint8Array) => Buffer.from(bytes).toString("base64"),
  decode: (text: string) => new Uint8Array(Buffer.from(text, "base64")),
  /** Strict base64 is exactly what Buffer decodes and encodes back to the same text. */
  isCanonical: (text: string) => Buffer.from(text, "base64").toString("base64") === text,
};

function ascii(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function codeOf(fn: () => unknown): ErrorCode | undefined {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    expect(error.closeCode).toBe(ErrorCodes[error.code].close);
    return error.code;
  }
  return undefined;
}

// RFC 4648 section 10 test vectors.
const vectors = [
  ["", ""],
  ["f", "Zg=="],
  ["fo", "Zm8="],
  ["foo", "Zm9v"],
  ["foob", "Zm9vYg=="],
  ["fooba", "Zm9vYmE="],
  ["foobar", "Zm9vYmFy"],
] as const;

describe("toText and fromText", () => {
  it.each(vectors)("encode %j as the RFC 4648 vector %j", (plain, text) => {
    expect(toText(ascii(plain))).toBe(text);
  });

  it.each(vectors)("decode the RFC 4648 vector for %j", (plain, text) => {
    expect(fromText(text)).toEqual(ascii(plain));
  });

  it("encode a PING frame to its golden text", () => {
    // 05 00 0000 0000000d | 00 | 01020304 | 3ff8000000000000
    const ping = new Uint8Array([5, 0, 0, 0, 0, 0, 0, 13, 0, 1, 2, 3, 4, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]);
    expect(toText(ping)).toBe("BQAAAAAAAA0AAQIDBD/4AAAAAAAA");
    expect(decodeFrame(fromText("BQAAAAAAAA0AAQIDBD/4AAAAAAAA"))).toEqual({
      type: FrameType.PING,
      hop: Hop.END_TO_END,
      id: 0x01020304,
      sentAt: 1.5,
    });
  });

  it("use the standard alphabet, with + and / for 62 and 63", () => {
    expect(toText(new Uint8Array([0xfb, 0xff, 0xbf]))).toBe("+/+/");
    expect(fromText("+/+/")).toEqual(new Uint8Array([0xfb, 0xff, 0xbf]));
  });

  it("read a frame's text into a plain Uint8Array that decodeFrame accepts", () => {
    const bytes = fromText("BwAAAAAAAAkRPXRvbyBiaWc=");
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(decodeFrame(bytes)).toEqual({ type: FrameType.CLOSE, code: 4413, reason: "too big" });
  });

  it("encode and decode the largest frame", () => {
    const largest = new Uint8Array(MAX_FRAME_BYTES).map((_, i) => (i * 7) & 0xff);
    const text = toText(largest);
    expect(text.length).toBe(MAX_TEXT_FRAME_CHARS);
    expect(text).toBe(oracle.encode(largest));
    // Compared with Buffer.equals: deep equality over half a megabyte of elements is needlessly slow.
    expect(Buffer.from(fromText(text)).equals(largest)).toBe(true);
  });
});

describe("fromText is strict", () => {
  it("rejects text over MAX_TEXT_FRAME_CHARS with FRAME_TOO_LARGE before looking at it", () => {
    expect(codeOf(() => fromText("A".repeat(MAX_TEXT_FRAME_CHARS + 4)))).toBe("FRAME_TOO_LARGE");
    // Invalid characters and a bad length too: the size is checked first.
    expect(codeOf(() => fromText("!".repeat(MAX_TEXT_FRAME_CHARS + 1)))).toBe("FRAME_TOO_LARGE");
  });

  it("toText rejects a frame over MAX_FRAME_BYTES with FRAME_TOO_LARGE", () => {
    expect(codeOf(() => toText(new Uint8Array(MAX_FRAME_BYTES + 1)))).toBe("FRAME_TOO_LARGE");
  });

  it.each(["A", "AB", "ABC", "ABCDE", "Zg=", "Zg", "Zm9vYg="])(
    "rejects %j, whose length is not a multiple of 4, with BAD_BASE64",
    (text) => {
      expect(codeOf(() => fromText(text))).toBe("BAD_BASE64");
    },
  );

  it.each([
    ["a space", "Zm9v Zm9v"],
    ["a newline", "Zm9v\nZm9v"],
    ["a URL-safe -", "Zm9-"],
    ["a URL-safe _", "Zm9_"],
    ["a non-ASCII letter", "Zm9é"],
    ["a character whose code masks to a letter", "Zm9\u0141"],
    ["a lone surrogate", "Zm9\ud800"],
    ["a NUL", "Zm9\u0000"],
    ["a dot", "Zm9."],
  ])("rejects text holding %s with BAD_BASE64", (_, text) => {
    expect(codeOf(() => fromText(text))).toBe("BAD_BASE64");
  });

  it.each([
    ["padding in the middle", "Zg==Zm9v"],
    ["padding at the start", "=Zm9"],
    ["three padding characters", "Z==="],
    ["only padding", "===="],
    ["padding followed by a letter", "Zm=v"],
    ["padding in an earlier quad", "Zm8=Zm9v"],
  ])("rejects %s with BAD_BASE64", (_, text) => {
    expect(codeOf(() => fromText(text))).toBe("BAD_BASE64");
  });

  it.each([
    ["Zh==", "one padding pair over non-zero bits"],
    ["Zm9=", "one padding character over non-zero bits"],
    ["//==", "two padding characters over non-zero bits"],
  ])("rejects %j (%s) with BAD_BASE64, so every frame has exactly one text", (text) => {
    expect(codeOf(() => fromText(text))).toBe("BAD_BASE64");
  });
});

// ---------------------------------------------------------------------------------------------

const alphabet = [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"];
/** Strings close to base64: mostly the alphabet, some padding, some near misses. */
const base64ish = fc.string({
  unit: fc.oneof(
    { weight: 20, arbitrary: fc.constantFrom(...alphabet) },
    { weight: 2, arbitrary: fc.constant("=") },
    { weight: 1, arbitrary: fc.constantFrom("-", "_", " ", "\n", "é", "\u0141", "\ud800", "\u0000") },
  ),
  maxLength: 40,
});
/** Whole quads of the alphabet, the last one with or without padding: valid length, often valid text. */
const letter = fc.constantFrom(...alphabet);
const letterOrPad = fc.oneof(letter, fc.constant("="));
const paddedQuads = fc
  .tuple(fc.array(letter, { maxLength: 40 }), fc.tuple(letterOrPad, letterOrPad, letterOrPad, letterOrPad))
  .map(([chars, last]) => chars.slice(0, chars.length - (chars.length % 4)).join("") + last.join(""));

describe("properties", () => {
  it("toText agrees with the reference encoder on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        expect(toText(bytes)).toBe(oracle.encode(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it("fromText inverts toText on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        expect(fromText(toText(bytes))).toEqual(bytes);
      }),
      { numRuns: 2000 },
    );
  });

  it("fromText accepts exactly the canonical texts, and decodes them as the reference does", () => {
    fc.assert(
      fc.property(fc.oneof(base64ish, paddedQuads), (text) => {
        const code = codeOf(() => fromText(text));
        if (oracle.isCanonical(text)) {
          expect(code).toBeUndefined();
          expect(fromText(text)).toEqual(oracle.decode(text));
        } else {
          expect(code).toBe("BAD_BASE64");
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("fromText returns bytes or throws a ProtocolError for arbitrary strings", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: "binary", maxLength: 60 }), fc.string({ maxLength: 60 }), base64ish),
        (text) => {
          try {
            expect(fromText(text)).toBeInstanceOf(Uint8Array);
          } catch (error) {
            expect(error).toBeInstanceOf(ProtocolError);
            expect((error as ProtocolError).code).toBe("BAD_BASE64");
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
