// Handshakes as a stranger abuses them, against a real exit (fake TUN) through in-memory legs:
// a leg closed before HELLO is a failed handshake charged to its source, and a HELLO checked while
// the keys file is half-written is refused, the exit serving on.
import { writeFile } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { parseClientKey } from "../protocol/client-key.js";
import { decodeFrame, encodeFrame } from "../protocol/codec.js";
import { fromMessage } from "../protocol/encoding.js";
import { ErrorCodes } from "../protocol/errors.js";
import { type ChallengeFrame, type Frame, FrameType } from "../protocol/frames.js";
import { type MemoryTransport, memoryDrained, memoryTransportPair } from "../protocol/transport.js";
import { startTestExit } from "../testing/test-exit.js";
import { until } from "../testing/until.js";
import { helloFor } from "../tunnel/handshake.js";
import { ABANDONED_AFTER_MS } from "./connection.js";
import type { RunningExit } from "./exit.js";
import { EXIT_LIMITS } from "./limits.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function testExit(burst: number) {
  const { exit, keysFile, key } = await startTestExit(cleanups, {
    limits: { ...EXIT_LIMITS, failedHandshakeBurst: burst, failedHandshakeIntervalMs: 60_000 },
  });
  return { exit, keysFile, key: parseClientKey(key) };
}

/** A leg from `address`, the test playing the phone: what the exit sent, decoded. */
async function leg(exit: RunningExit, address: string): Promise<{ phone: MemoryTransport; frames: Frame[] }> {
  const [phone, exitSide] = memoryTransportPair();
  const frames: Frame[] = [];
  phone.onMessage((message) => {
    const frame = decodeFrame(fromMessage(message));
    if (frame) frames.push(frame);
  });
  exit.accept(exitSide, "binary", address);
  await memoryDrained(phone, exitSide);
  return { phone, frames };
}

describe("the exit's handshakes, abused", () => {
  it("charges a leg held without HELLO, then closed, as a failed handshake: one source cannot hold the slots", async () => {
    const { exit } = await testExit(3);
    const held = [];
    for (let i = 0; i < 3; i++) {
      const { phone, frames } = await leg(exit, "192.0.2.7");
      expect(frames[0]?.type).toBe(FrameType.CHALLENGE);
      held.push(phone);
    }
    await new Promise((resolve) => setTimeout(resolve, ABANDONED_AFTER_MS + 50));
    for (const phone of held) {
      phone.close(1000, "");
      await memoryDrained(phone);
    }
    const refused = await leg(exit, "192.0.2.7");
    expect(refused.frames).toMatchObject([{ type: FrameType.CLOSE, code: ErrorCodes.RATE_LIMITED.close }]);
    expect(refused.phone.closed?.code).toBe(ErrorCodes.RATE_LIMITED.close);
    const other = await leg(exit, "192.0.2.8");
    expect(other.frames[0]?.type).toBe(FrameType.CHALLENGE);
    const handshakes = await exit.metrics.registry.getSingleMetricAsString("tether_exit_handshakes_total");
    expect(handshakes).toContain('result="abandoned"} 3');
    expect(handshakes).toContain('result="rate_limited"} 1');
  });

  it("does not charge a leg closed at once (a phone whose laptop leg dropped)", async () => {
    const { exit } = await testExit(2);
    for (let i = 0; i < 4; i++) {
      const { phone } = await leg(exit, "192.0.2.11");
      phone.close(1000, "");
      await memoryDrained(phone);
    }
    expect((await leg(exit, "192.0.2.11")).frames[0]?.type).toBe(FrameType.CHALLENGE);
  });

  it("refuses a HELLO checked while the keys file is half-written, and serves on", async () => {
    const { exit, keysFile, key } = await testExit(10);
    await writeFile(keysFile, '[{"name": "laptop-1", "ke', { mode: 0o600 });
    const { phone, frames } = await leg(exit, "192.0.2.9");
    phone.send(helloFor(frames[0] as ChallengeFrame, encodeFrame(frames[0]!), key, undefined).hello);
    await until(() => phone.closed, "the refusal");
    expect(frames[1]).toMatchObject({ type: FrameType.CLOSE, code: ErrorCodes.AUTH_FAILED.close });
    const next = await leg(exit, "192.0.2.10");
    expect(next.frames[0]?.type).toBe(FrameType.CHALLENGE);
  });
});
