// Fuzz: LegSeal.inbound, the rule every message from a leg passes before anything reads it, on
// both ends' legs, before and after the keys. It never throws; it answers with a listed drop
// reason or a frame; a frame comes out "sealed" only if it is one the far end sealed, unchanged
// and the first time; once keyed, a clear frame comes out only if it is one that stays clear
// (tunnel/seal-leg.ts); every drop is counted. FUZZ_RUNS cases per role.
import fc from "fast-check";
import { afterAll, beforeAll, describe, it } from "vitest";
import { encodeFrame } from "../protocol/codec.js";
import { FrameType, Hop } from "../protocol/frames.js";
import { editedMessage, FUZZ_RUNS, hostileBytes, must, validFrame } from "../testing/fuzz-inputs.js";
import { FrameSealer } from "./seal.js";
import { LEG_DROP_REASONS, type LegRole, LegSeal, staysClear } from "./seal-leg.js";

const PARTS = 2;
const keys = { send: Buffer.alloc(32, 0x51), receive: Buffer.alloc(32, 0x52) };
const REASONS = new Set<string>(LEG_DROP_REASONS);

// What the far end sealed (the relay has seen all of it and can replay any).
const farEnd = new FrameSealer(keys.receive);
const originals = fc.sample(validFrame, { numRuns: 64, seed: 0x1e95 }).map((frame) => encodeFrame(frame));
const sealed = originals.map((frame) => farEnd.seal(frame));
const byHex = new Map(sealed.map((message, i) => [Buffer.from(message).toString("hex"), i]));
// Frames sealed under the other direction's key: right layout, wrong key.
const wrongKey = new FrameSealer(keys.send);
const misdirected = originals.slice(0, 16).map((frame) => wrongKey.seal(frame));

/** Clear frames of the kinds that may stay clear (leg pings, handshake, self-test), and others. */
const clearFrames = [
  encodeFrame({ type: FrameType.PING, hop: Hop.LAPTOP_LEG, id: 1, sentAt: 0 }),
  encodeFrame({ type: FrameType.PONG, hop: Hop.EXIT_LEG, id: 2, sentAt: 0 }),
  encodeFrame({ type: FrameType.PING, hop: Hop.END_TO_END, id: 3, sentAt: 0 }),
  encodeFrame({ type: FrameType.CHALLENGE, versionMin: 2, versionMax: 2, nonce: new Uint8Array(32) }),
  encodeFrame({ type: FrameType.CLOSE, code: 4401, reason: "AUTH_FAILED" }),
  encodeFrame({ type: FrameType.DATA, packets: [new Uint8Array(20).fill(0x45)] }),
  Uint8Array.of(8, 0, 0, 0, 0, 0, 0, 1, 0), // RESPONSE's type, a made-up body
  Uint8Array.of(0x40, 0, 0, 0, 0, 0, 0, 0), // SELF_TEST's type
];

const message = fc.oneof(
  { weight: 4, arbitrary: fc.nat({ max: sealed.length - 1 }).map((i) => sealed[i]!) },
  { weight: 6, arbitrary: editedMessage(sealed) },
  { weight: 1, arbitrary: fc.constantFrom(...misdirected) },
  { weight: 2, arbitrary: fc.constantFrom(...clearFrames) },
  { weight: 2, arbitrary: editedMessage(clearFrames) },
  { weight: 3, arbitrary: validFrame.map((frame) => encodeFrame(frame)) },
  { weight: 3, arbitrary: hostileBytes },
);

// A forged frame makes Node's decipher throw inside open (caught there); 100k stacks would cost
// most of the run. A failing case still reports its counterexample.
const stackTraceLimit = Error.stackTraceLimit;
beforeAll(() => {
  Error.stackTraceLimit = 0;
});
afterAll(() => {
  Error.stackTraceLimit = stackTraceLimit;
});

function check(role: LegRole, keyed: boolean, messages: Uint8Array[]): void {
  const leg = new LegSeal(role);
  if (keyed) leg.install(keys);
  const opened = new Set<number>();
  let drops = 0;
  for (const m of messages) {
    const result = leg.inbound(m);
    if (result.drop) {
      must(REASONS.has(result.drop), () => `unlisted reason ${result.drop}`);
      drops++;
      continue;
    }
    if (result.sealed) {
      const index = byHex.get(Buffer.from(m).toString("hex"));
      must(keyed, () => "a sealed frame opened without keys");
      must(index !== undefined, () => `a changed frame opened: ${Buffer.from(m).toString("hex")}`);
      must(!opened.has(index!), () => `frame ${index} opened twice`);
      must(
        Buffer.from(result.frame).equals(originals[index!]!),
        () => `frame ${index} opened to other bytes`,
      );
      opened.add(index!);
    } else {
      must(result.frame === m, () => "a clear frame came out changed");
      must(!keyed || staysClear(m, role), () => `clear frame of type ${m[0]} let through once keyed`);
    }
  }
  must(leg.dropped === drops, () => `counted ${leg.dropped}, dropped ${drops}`);
}

describe(`fuzz LegSeal.inbound (${FUZZ_RUNS} cases per role)`, () => {
  for (const role of ["laptop", "exit"] as const) {
    for (let part = 0; part < PARTS; part++) {
      it(`on the ${role}'s leg, keyed or not, lets through only what the rule allows and counts the rest (part ${part + 1}/${PARTS})`, () => {
        fc.assert(
          fc.property(fc.boolean(), fc.array(message, { minLength: 1, maxLength: 4 }), (keyed, messages) =>
            check(role, keyed, messages),
          ),
          { numRuns: FUZZ_RUNS / PARTS, seed: 0x1e9a + part + (role === "exit" ? 16 : 0) },
        );
      });
    }
  }
});
