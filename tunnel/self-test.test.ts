// The laptop's and the exit's halves of the self-test, over a fake leg.
import { describe, expect, it } from "vitest";
import {
  decodeSelfTestDone,
  encodeEcho,
  encodeSelfTest,
  SELF_TEST_MIN_INTERVAL_MS,
  SelfTestType,
} from "../protocol/self-test.js";
import { ECHO_WINDOW_BYTES, echoAnswer, type SelfTestLeg, SelfTestSender } from "./self-test.js";

function fakeLeg(): SelfTestLeg & { sent: Uint8Array[] } {
  const sent: Uint8Array[] = [];
  return { open: true, bufferedAmount: 0, sent, sendFrame: (frame) => void sent.push(frame) };
}

const request = encodeSelfTest({ durationMs: 1_000, maxBytes: 100_000, payloadBytes: 10_000 });

describe("the laptop's self-test sender", () => {
  it("sends ECHOs up to the byte bound, then SELF_TEST_DONE once every reply is in", () => {
    let now = 0;
    const sender = new SelfTestSender(() => now);
    const leg = fakeLeg();
    expect(sender.request(leg, request, true)).toBeUndefined();
    const echoes = leg.sent.filter((f) => f[0] === SelfTestType.ECHO);
    expect(echoes).toHaveLength(10); // 10 x (8 + 10 000) bytes reach the 100 000 bound
    now = 40;
    for (const echo of echoes) sender.reply(echoAnswer(echo)!);
    const done = leg.sent.at(-1)!;
    expect(done[0]).toBe(SelfTestType.SELF_TEST_DONE);
    expect(decodeSelfTestDone(done)).toEqual({
      echoesSent: 10,
      echoesReceived: 10,
      bytesSent: 100_080,
      bytesReceived: 100_080,
      elapsedMs: 40,
    });
  });

  it("refuses a malformed request, one before WELCOME, one while running and one too soon after the last", () => {
    let now = 0;
    const sender = new SelfTestSender(() => now);
    const leg = fakeLeg();
    expect(sender.request(leg, request.slice(0, 10), true)).toBe("malformed");
    expect(sender.request(leg, request, false)).toBe("not_established");
    expect(sender.request(leg, request, true)).toBeUndefined();
    expect(sender.request(leg, request, true)).toBe("running");
    sender.stop();
    now = SELF_TEST_MIN_INTERVAL_MS - 1;
    expect(sender.request(leg, request, true)).toBe("too_soon");
    now = SELF_TEST_MIN_INTERVAL_MS;
    expect(sender.request(leg, request, true)).toBeUndefined();
    sender.stop();
  });

  it("keeps at most a window of ECHO bytes unanswered, and sends more as replies come", () => {
    const sender = new SelfTestSender(() => 0);
    const leg = fakeLeg();
    const big = encodeSelfTest({ durationMs: 1_000, maxBytes: 4_000_000, payloadBytes: 64 * 1024 });
    sender.request(leg, big, true);
    const first = leg.sent.length;
    expect(first * (64 * 1024 + 8)).toBeGreaterThanOrEqual(ECHO_WINDOW_BYTES);
    expect((first - 1) * (64 * 1024 + 8)).toBeLessThan(ECHO_WINDOW_BYTES);
    sender.reply(echoAnswer(leg.sent[0]!)!);
    expect(leg.sent.length).toBe(first + 1);
    sender.stop();
  });

  it("stops sending while the leg is backed up, and ends at the time bound", async () => {
    let now = 0;
    const sender = new SelfTestSender(() => now);
    const leg = { ...fakeLeg(), bufferedAmount: 10 * 1024 * 1024 };
    const sent: Uint8Array[] = [];
    leg.sendFrame = (frame) => void sent.push(frame);
    sender.request(leg, request, true);
    expect(sent).toHaveLength(0);
    now = 1_000; // the time bound passes with nothing sent: done at once, with zero counts
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(sent.map((f) => f[0])).toEqual([SelfTestType.SELF_TEST_DONE]);
    expect(decodeSelfTestDone(sent[0]!).echoesSent).toBe(0);
  });
});

describe("the exit's echo", () => {
  it("answers an ECHO with its bytes, and nothing else", () => {
    const echo = encodeEcho(3, 5, 100);
    const reply = echoAnswer(echo)!;
    expect(reply[0]).toBe(SelfTestType.ECHO_REPLY);
    expect(Buffer.from(reply.subarray(1))).toEqual(Buffer.from(echo.subarray(1)));
    expect(echoAnswer(reply)).toBeUndefined();
    expect(echoAnswer(echo.slice(0, 12))).toBeUndefined();
  });
});
