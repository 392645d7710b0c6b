// Issue 11.5 as a spec: a peer of another protocol version is refused with UNSUPPORTED_VERSION and
// a sentence that says which side to update, read from the versions alone (a v1 HELLO has them
// in the same two bytes); nothing falls back to a clear mode.
import { describe, expect, it } from "vitest";
import { parseClientKey } from "../protocol/client-key.js";
import { encodeFrame } from "../protocol/codec.js";
import { type ChallengeFrame, FrameType } from "../protocol/frames.js";
import { HandshakeRefusal, helloFor, helloVersion } from "./handshake.js";

const key = parseClientKey(`laptop-1:${Buffer.alloc(32, 3).toString("base64url")}`);

function challenge(versionMin: number, versionMax: number): [ChallengeFrame, Uint8Array] {
  const frame: ChallengeFrame = {
    type: FrameType.CHALLENGE,
    versionMin,
    versionMax,
    nonce: new Uint8Array(32),
  };
  return [frame, encodeFrame(frame)];
}

/** A v1 HELLO (v1's layout: versions, capabilities, client id, mac, no resume token). */
function v1Hello(versionMin = 1, versionMax = 1): Uint8Array {
  return encodeFrame({
    type: FrameType.HELLO,
    versionMin,
    versionMax,
    capabilities: 0,
    clientId: "laptop-1",
    mac: new Uint8Array(32),
    resumeToken: undefined,
  });
}

function refusal(run: () => unknown): HandshakeRefusal {
  try {
    run();
  } catch (error) {
    if (error instanceof HandshakeRefusal) return error;
    throw error;
  }
  throw new Error("not refused");
}

describe("a peer of another protocol version", () => {
  it("a v1 laptop's HELLO: UNSUPPORTED_VERSION, and the laptop is the side to update", () => {
    const error = refusal(() => helloVersion(v1Hello()));
    expect(error.code).toBe("UNSUPPORTED_VERSION");
    expect(error.message).toBe("the laptop speaks protocol v1, this exit v2: update tether on the laptop");
  });

  it("a newer laptop (v3 only): this exit is the side to update", () => {
    const error = refusal(() => helloVersion(v1Hello(3, 3)));
    expect(error.code).toBe("UNSUPPORTED_VERSION");
    expect(error.message).toMatch(
      /laptop speaks protocol v3, this exit v2: update this exit \(tether-exit\)$/,
    );
  });

  it("a v1 exit's CHALLENGE: the laptop sends no HELLO at all, and says to update the exit", () => {
    const [frame, bytes] = challenge(1, 1);
    const error = refusal(() => helloFor(frame, bytes, key, undefined));
    expect(error.code).toBe("UNSUPPORTED_VERSION");
    expect(error.message).toBe("the exit speaks protocol v1, this tether v2: update the exit (tether-exit)");
  });

  it("a newer exit (v3-v4): the laptop says to update tether here", () => {
    const [frame, bytes] = challenge(3, 4);
    expect(refusal(() => helloFor(frame, bytes, key, undefined)).message).toMatch(
      /exit speaks protocol v3-v4, this tether v2: update tether on this laptop$/,
    );
  });

  it("a range that includes v2 is answered with a Noise HELLO (v2's layout), never a v1 one", () => {
    const [frame, bytes] = challenge(1, 2);
    const hello = helloFor(frame, bytes, key, undefined).hello;
    expect(hello[0]).toBe(FrameType.HELLO);
    expect(helloVersion(hello)).toBe(2);
    expect(hello.length).toBe(8 + 120 + "laptop-1".length);
  });
});
