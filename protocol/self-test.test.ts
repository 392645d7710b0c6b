// The self-test's frames: each encoder's output is its decoder's input, limits refused with codes.
import { describe, expect, it } from "vitest";
import { ProtocolError } from "./errors.js";
import {
  decodeEchoReply,
  decodeSelfTest,
  decodeSelfTestDone,
  echoReply,
  encodeEcho,
  encodeSelfTest,
  encodeSelfTestDone,
  MAX_SELF_TEST_BYTES,
  MAX_SELF_TEST_MS,
  SelfTestType,
} from "./self-test.js";

function code(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof ProtocolError ? error.code : String(error);
  }
  return undefined;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

describe("self-test frames", () => {
  it("lays out a SELF_TEST request as header then duration, bytes and payload size", () => {
    const bytes = encodeSelfTest({ durationMs: 3000, maxBytes: 10_000_000, payloadBytes: 16384 });
    expect(hex(bytes)).toBe("400000000000000c00000bb80098968000004000");
    expect(decodeSelfTest(bytes)).toEqual({ durationMs: 3000, maxBytes: 10_000_000, payloadBytes: 16384 });
  });

  it("refuses a request past the limits with BAD_FIELD, and a wrong length with LENGTH_MISMATCH", () => {
    const ok = { durationMs: 1000, maxBytes: 1000, payloadBytes: 100 };
    expect(code(() => decodeSelfTest(encodeSelfTest({ ...ok, durationMs: MAX_SELF_TEST_MS + 1 })))).toBe(
      "BAD_FIELD",
    );
    expect(code(() => decodeSelfTest(encodeSelfTest({ ...ok, durationMs: 0 })))).toBe("BAD_FIELD");
    expect(code(() => decodeSelfTest(encodeSelfTest({ ...ok, maxBytes: MAX_SELF_TEST_BYTES + 1 })))).toBe(
      "BAD_FIELD",
    );
    expect(code(() => decodeSelfTest(encodeSelfTest({ ...ok, payloadBytes: 4 })))).toBe("BAD_FIELD");
    expect(code(() => decodeSelfTest(encodeSelfTest(ok).slice(0, 15)))).toBe("LENGTH_MISMATCH");
    expect(code(() => decodeSelfTest(new Uint8Array(3)))).toBe("TRUNCATED");
    expect(
      code(() =>
        decodeSelfTest(
          encodeSelfTestDone({
            echoesSent: 0,
            echoesReceived: 0,
            bytesSent: 0,
            bytesReceived: 0,
            elapsedMs: 0,
          }),
        ),
      ),
    ).toBe("UNEXPECTED_FRAME");
  });

  it("pads an ECHO to the asked size, and its reply carries the same bytes back", () => {
    const echo = encodeEcho(7, 1234.5, 1000);
    expect(echo.length).toBe(8 + 1000);
    expect(echo[0]).toBe(SelfTestType.ECHO);
    const reply = echoReply(echo);
    expect(reply[0]).toBe(SelfTestType.ECHO_REPLY);
    expect(hex(reply.subarray(1))).toBe(hex(echo.subarray(1)));
    expect(decodeEchoReply(reply)).toEqual({ seq: 7, sentAt: 1234.5 });
    expect(code(() => echoReply(reply))).toBe("UNEXPECTED_FRAME");
  });

  it("round-trips SELF_TEST_DONE's counts", () => {
    const done = {
      echoesSent: 900,
      echoesReceived: 899,
      bytesSent: 14_745_600,
      bytesReceived: 14_729_216,
      elapsedMs: 3012,
    };
    expect(decodeSelfTestDone(encodeSelfTestDone(done))).toEqual(done);
  });
});
