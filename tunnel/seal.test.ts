// Per-frame sealing, as a spec: the layout, what the phone still reads, and every refusal counted.
import { describe, expect, it } from "vitest";
import { decodeFrame, encodeData, encodeFrame } from "../protocol/codec.js";
import { FrameType, Hop } from "../protocol/frames.js";
import { MAX_FRAME_BYTES } from "../protocol/limits.js";
import { encrypt } from "./noise-cipher.js";
import { REPLAY_WINDOW_FRAMES } from "./replay-window.js";
import {
  FrameOpener,
  FrameSealer,
  isSealed,
  MAX_SEALABLE_FRAME_BYTES,
  type OpenDropReason,
  REJECT_AFTER_MS,
  REKEY_AFTER_MS,
  SEAL_OVERHEAD_BYTES,
} from "./seal.js";

const hex = (s: string) => Buffer.from(s.replace(/[\s|]+/g, ""), "hex");
const key = hex("e2f8b6e9 1b4fd1c2 5d5b0c8e 4a3d2f1e 0f9e8d7c 6b5a4938 27161504 f3e2d1c0");
const ping = encodeFrame({ type: FrameType.PING, hop: Hop.END_TO_END, id: 1, sentAt: 0 });
const data = encodeData([Uint8Array.of(0x45, 1, 2, 3), Uint8Array.of(0x45, 4, 5)]);

function pair(options: { now?: () => number; rekeyAfterBytes?: number } = {}) {
  return { sealer: new FrameSealer(key, options), opener: new FrameOpener(key, options) };
}

function dropOf(opener: FrameOpener, message: Uint8Array): OpenDropReason | undefined {
  return opener.open(message).drop;
}

describe("FrameSealer and FrameOpener", () => {
  it("lays a sealed frame out as: clear header, counter, ciphertext under the header as AD, tag", () => {
    const { sealer } = pair();
    sealer.seal(ping); // counter 0
    const sealed = sealer.seal(ping); // counter 1
    const header = hex("05 80 0000 00000025"); // PING, SEALED, count 0, 13 + 24 bytes
    const counter = hex("00000000 00000001");
    expect(sealed.subarray(0, 16)).toEqual(Buffer.concat([header, counter]));
    expect(sealed.subarray(16)).toEqual(encrypt(key, 1, header, ping.subarray(8)));
    // Frozen (computed once, checked against the two lines above): any change to the format shows here.
    expect(sealed.toString("hex")).toBe(
      "05800000000000250000000000000001e403c6c990a9feb2978a2d3bbc3838c889845a6ca654c72f89eb3afef7",
    );
  });

  it("opens to exactly the v1 frame that was sealed, which the v1 decoder reads", () => {
    const { sealer, opener } = pair();
    for (const frame of [ping, data, encodeFrame({ type: FrameType.CLOSE, code: 4001, reason: "bye" })]) {
      const opened = opener.open(sealer.seal(frame));
      expect(opened.frame).toEqual(Buffer.from(frame));
    }
    const opened = opener.open(sealer.seal(data));
    expect(decodeFrame(opened.frame!)).toMatchObject({ type: FrameType.DATA });
  });

  it("keeps what the phone reads in the clear: type, packet count, size; and the SEALED flag", () => {
    const { sealer } = pair();
    const sealed = sealer.seal(data);
    expect(sealed[0]).toBe(FrameType.DATA);
    expect(sealed.readUInt16BE(2)).toBe(2);
    expect(sealed.readUInt32BE(4)).toBe(data.length - 8 + SEAL_OVERHEAD_BYTES);
    expect(isSealed(sealed)).toBe(true);
    expect(isSealed(data)).toBe(false);
    // The payload is not: no packet byte survives in place.
    expect(sealed.includes(Buffer.from(data.subarray(8)))).toBe(false);
  });

  it("refuses a frame that changed anywhere (header, counter, ciphertext, tag) as forged or malformed, and counts it", () => {
    const { sealer, opener } = pair();
    const sealed = sealer.seal(data);
    for (let i = 0; i < sealed.length; i++) {
      const changed = Buffer.from(sealed);
      changed[i]! ^= i === 1 ? 0x01 : 0x10;
      const drop = dropOf(opener, changed);
      expect(drop === "forged" || drop === "malformed", `byte ${i}: ${drop}`).toBe(true);
    }
    expect(opener.dropped).toBe(sealed.length);
    expect(opener.open(sealed).frame).toEqual(Buffer.from(data)); // the real one still opens
  });

  it("refuses a frame replayed, even after others, as replayed", () => {
    const { sealer, opener } = pair();
    const first = sealer.seal(ping);
    expect(opener.open(first).frame).toBeDefined();
    expect(dropOf(opener, first)).toBe("replayed");
    expect(opener.open(sealer.seal(ping)).frame).toBeDefined();
    expect(dropOf(opener, first)).toBe("replayed");
    expect(opener.drops.replayed).toBe(2);
  });

  it("opens frames reordered within the window, and refuses one from beyond it as too_old", () => {
    const { sealer, opener } = pair();
    const early = sealer.seal(ping);
    const late = sealer.seal(ping);
    expect(opener.open(late).frame).toBeDefined();
    expect(opener.open(early).frame).toBeDefined();
    const old = sealer.seal(ping);
    for (let i = 0; i < REPLAY_WINDOW_FRAMES; i++) sealer.seal(ping);
    expect(opener.open(sealer.seal(ping)).frame).toBeDefined();
    expect(dropOf(opener, old)).toBe("too_old");
  });

  it("refuses a clear frame as not_sealed, and a truncated or mis-sized one as malformed", () => {
    const { sealer, opener } = pair();
    expect(dropOf(opener, ping)).toBe("not_sealed");
    const sealed = sealer.seal(ping);
    expect(dropOf(opener, sealed.subarray(0, sealed.length - 1))).toBe("malformed");
    expect(dropOf(opener, sealed.subarray(0, 8 + SEAL_OVERHEAD_BYTES - 1))).toBe("malformed");
    expect(dropOf(opener, new Uint8Array(MAX_FRAME_BYTES + 1))).toBe("malformed");
    const huge = Buffer.from(sealed);
    huge.writeUInt32BE(0xffe00000, 8); // counter 2^53 * 2047: past MAX_COUNTER
    expect(dropOf(opener, huge)).toBe("malformed");
    expect(opener.open(sealed).frame).toBeDefined();
  });

  it("refuses a frame sealed under another key (another connection, the other direction) as forged", () => {
    const other = new FrameSealer(Buffer.alloc(32, 9));
    const { opener } = pair();
    expect(dropOf(opener, other.seal(ping))).toBe("forged");
  });

  it("refuses to seal a frame that would not fit MAX_FRAME_BYTES once sealed", () => {
    const { sealer } = pair();
    const frame = new Uint8Array(MAX_SEALABLE_FRAME_BYTES + 1);
    expect(() => sealer.seal(frame)).toThrow(expect.objectContaining({ code: "FRAME_TOO_LARGE" }));
    expect(sealer.seal(new Uint8Array(MAX_SEALABLE_FRAME_BYTES)).length).toBe(MAX_FRAME_BYTES);
  });

  it(`rekeys after ${REKEY_AFTER_MS / 1000} s: the phase flips, the receiver follows, the counter goes on`, () => {
    let now = 0;
    const { sealer, opener } = pair({ now: () => now });
    const before = sealer.seal(ping);
    now = REKEY_AFTER_MS;
    const after = sealer.seal(ping);
    expect(sealer.rekeys).toBe(1);
    expect(before[1]! & 1).toBe(0);
    expect(after[1]! & 1).toBe(1);
    expect(after.readUInt32BE(12)).toBe(1);
    expect(opener.open(after).frame).toEqual(Buffer.from(ping));
    expect(opener.rekeys).toBe(1);
    // A frame of the old key, reordered behind the change, still opens (once).
    expect(opener.open(before).frame).toEqual(Buffer.from(ping));
    expect(dropOf(opener, before)).toBe("replayed");
    now = 2 * REKEY_AFTER_MS;
    expect(opener.open(sealer.seal(ping)).frame).toBeDefined();
    expect(opener.rekeys).toBe(2);
  });

  it("rekeys by bytes sealed under one key", () => {
    const { sealer, opener } = pair({ rekeyAfterBytes: 100 });
    const frames = Array.from({ length: 20 }, () => sealer.seal(data)); // 13-byte payloads
    expect(sealer.rekeys).toBe(2);
    for (const frame of frames) expect(opener.open(frame).frame).toEqual(Buffer.from(data));
    expect(opener.rekeys).toBe(2);
  });

  it(`refuses frames under a key the sender should have left ${REJECT_AFTER_MS / 1000} s ago as key_expired`, () => {
    let now = 0;
    const sealer = new FrameSealer(key, { now: () => now, rekeyAfterMs: Number.POSITIVE_INFINITY });
    const opener = new FrameOpener(key, { now: () => now });
    expect(opener.open(sealer.seal(ping)).frame).toBeDefined();
    now = REJECT_AFTER_MS + 1;
    expect(dropOf(opener, sealer.seal(ping))).toBe("key_expired");
  });

  it("never throws, whatever it is given", () => {
    const { opener } = pair();
    for (const message of [
      new Uint8Array(0),
      new Uint8Array(7),
      new Uint8Array(40),
      hex("04 80 0001 00000020"),
    ]) {
      expect(() => opener.open(message)).not.toThrow();
    }
  });
});
