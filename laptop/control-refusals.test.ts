// The laptop counts what it refuses the relay itself, as the exit does (tunnel/control-budget.ts):
// a phone, or anyone holding the pairing secret, that PINGs the laptop's leg past the reply
// budget gets no more PONGs, and each one it did not get is counted in the tunnel's counters
// (status.json's `refusals`), beside the frames its legs dropped unopened.
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseClientKey } from "../protocol/client-key.js";
import { decodeFrame, encodeFrame } from "../protocol/codec.js";
import { fromMessage } from "../protocol/encoding.js";
import { FrameType, Hop } from "../protocol/frames.js";
import { memoryDrained, memoryTransportPair } from "../protocol/transport.js";
import { createFakeTun } from "../tun/fake.js";
import { CONTROL_REPLY_BURST } from "../tunnel/control-budget.js";
import { LaptopTunnel } from "./tunnel.js";

const KEY = parseClientKey(`laptop-test:${Buffer.alloc(32, 7).toString("base64url")}`);

afterEach(() => {
  vi.useRealTimers();
});

describe("the laptop's refusals of its relay", () => {
  it("answers the relay's PINGs within the reply budget and counts each one past it (control_reply)", async () => {
    vi.useFakeTimers({ toFake: ["performance"] }); // no refill while the test runs
    const tunnel = new LaptopTunnel(createFakeTun(), KEY, {
      welcome: async () => undefined,
      state: () => undefined,
      fatal: () => undefined,
    });
    const [phone, laptopSide] = memoryTransportPair();
    const pongs: unknown[] = [];
    phone.onMessage((message) => {
      const frame = decodeFrame(fromMessage(message));
      if (frame?.type === FrameType.PONG) pongs.push(frame);
    });
    tunnel.attach(laptopSide, "binary", "phone");
    const ping = encodeFrame({ type: FrameType.PING, hop: Hop.LAPTOP_LEG, id: 7, sentAt: 1 });
    for (let i = 0; i < CONTROL_REPLY_BURST + 10; i++) phone.send(ping);
    await memoryDrained(phone, laptopSide);
    expect(pongs).toHaveLength(CONTROL_REPLY_BURST);
    expect(tunnel.counters.refusals).toEqual({ control_reply: 10, unread: 0 });
    phone.close(1000, "");
  });
});
