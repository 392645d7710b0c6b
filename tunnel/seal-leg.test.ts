// Which frames a leg seals, as a spec: clear before the keys, sealed after, the phone's own leg
// pings always clear, and every frame that breaks the rule dropped and counted.
import { describe, expect, it } from "vitest";
import { encodeData, encodeFrame } from "../protocol/codec.js";
import { FrameType, Hop } from "../protocol/frames.js";
import { isSealed } from "./seal.js";
import { isLegPing, LegSeal } from "./seal-leg.js";

const a = Buffer.alloc(32, 1);
const b = Buffer.alloc(32, 2);
const data = encodeData([Uint8Array.of(0x45, 0, 0, 4)]);
const close = encodeFrame({ type: FrameType.CLOSE, code: 4401, reason: "AUTH_FAILED" });
const ping = (hop: Hop) => encodeFrame({ type: FrameType.PING, hop, id: 7, sentAt: 1 });

function keyedPair() {
  const laptop = new LegSeal("laptop");
  const exit = new LegSeal("exit");
  laptop.install({ send: a, receive: b });
  exit.install({ send: b, receive: a });
  return { laptop, exit };
}

describe("LegSeal", () => {
  it("passes everything clear before the keys, and says so", () => {
    const leg = new LegSeal("exit");
    expect(leg.outbound(close)).toBe(close);
    expect(leg.inbound(close)).toEqual({ frame: close, sealed: false });
  });

  it("drops a sealed frame before the keys as early", () => {
    const { laptop } = keyedPair();
    const fresh = new LegSeal("exit");
    expect(fresh.inbound(laptop.outbound(data)).drop).toBe("early");
    expect(fresh.drops.early).toBe(1);
  });

  it("seals every end-to-end frame once keyed, and the far end opens it as sealed", () => {
    const { laptop, exit } = keyedPair();
    for (const frame of [data, close, ping(Hop.END_TO_END)]) {
      const wire = laptop.outbound(frame);
      expect(isSealed(wire)).toBe(true);
      expect(exit.inbound(wire)).toEqual({ frame: Buffer.from(frame), sealed: true });
    }
  });

  it("keeps the phone's leg pings clear both ways, and accepts them clear", () => {
    const { laptop } = keyedPair();
    for (const hop of [Hop.LAPTOP_LEG, Hop.EXIT_LEG]) {
      const frame = ping(hop);
      expect(isLegPing(frame)).toBe(true);
      expect(laptop.outbound(frame)).toBe(frame);
      expect(laptop.inbound(frame)).toEqual({ frame, sealed: false });
    }
    expect(isLegPing(ping(Hop.END_TO_END))).toBe(false);
  });

  it("drops a clear frame after the keys (a relay's forged DATA, CLOSE or end-to-end PING) as unsealed", () => {
    const { laptop } = keyedPair();
    for (const frame of [data, close, ping(Hop.END_TO_END)])
      expect(laptop.inbound(frame).drop).toBe("unsealed");
    expect(laptop.drops.unsealed).toBe(3);
    expect(laptop.dropped).toBe(3);
  });

  it("counts the opener's refusals as its own: a replay, a flipped bit", () => {
    const { laptop, exit } = keyedPair();
    const wire = Buffer.from(laptop.outbound(data));
    expect(exit.inbound(wire).frame).toBeDefined();
    expect(exit.inbound(wire).drop).toBe("replayed");
    const flipped = Buffer.from(laptop.outbound(data));
    flipped[flipped.length - 1]! ^= 1;
    expect(exit.inbound(flipped).drop).toBe("forged");
    expect(exit.drops).toMatchObject({ replayed: 1, forged: 1 });
  });

  it("takes its keys once on the exit's leg", () => {
    const { exit } = keyedPair();
    expect(() => exit.install({ send: a, receive: b })).toThrow(/once/);
  });

  it("on the laptop's leg, keeps a new handshake clear once keyed (the phone redialed its exit leg) and takes its keys", () => {
    const { laptop, exit } = keyedPair();
    const challenge = encodeFrame({
      type: FrameType.CHALLENGE,
      versionMin: 2,
      versionMax: 2,
      nonce: new Uint8Array(32),
    });
    const hello = Buffer.from("0200000000000003020202", "hex");
    const response = Buffer.from("0800000000000001ff", "hex");
    expect(laptop.inbound(challenge)).toEqual({ frame: challenge, sealed: false });
    expect(laptop.outbound(hello)).toBe(hello);
    expect(laptop.inbound(response)).toEqual({ frame: response, sealed: false });
    // The exit's leg never sees a second handshake: a clear HELLO there is the relay's.
    expect(exit.inbound(hello).drop).toBe("unsealed");
    laptop.install({ send: b, receive: a });
    expect(laptop.handshakes).toBe(2);
    expect(exit.inbound(laptop.outbound(data)).drop).toBe("forged"); // other keys now
  });
});
