// Fuzz: FrameOpener.open answers any message with the frame that was sealed or a listed drop
// reason, never an exception; a frame opens only unchanged, and only once. FUZZ_RUNS cases, in
// parts so each test stays well under its timeout.
import fc from "fast-check";
import { afterAll, beforeAll, describe, it } from "vitest";
import { encodeFrame } from "../protocol/codec.js";
import { editedMessage, FUZZ_RUNS, hostileBytes, must, validFrame } from "../testing/fuzz-inputs.js";
import { FrameOpener, FrameSealer, OPEN_DROP_REASONS, REKEY_AFTER_MS } from "./seal.js";

const PARTS = 4;
const key = Buffer.alloc(32, 0x42);
const REASONS = new Set<string>(OPEN_DROP_REASONS);

// A pool of frames sealed in order, one rekey among them: what a relay has seen and can replay.
let now = 0;
const sealer = new FrameSealer(key, { now: () => now });
const originals = fc.sample(validFrame, { numRuns: 48, seed: 0x5ea1 }).map((frame) => encodeFrame(frame));
const sealed = originals.map((frame, i) => {
  if (i === 32) now = REKEY_AFTER_MS;
  return sealer.seal(frame);
});
const byHex = new Map(sealed.map((message, i) => [Buffer.from(message).toString("hex"), i]));

/** A pool frame with a few bytes changed, cut or extended; its length field fixed or not. */
const changedSealed = editedMessage(sealed);

const message = fc.oneof(
  { weight: 4, arbitrary: fc.nat({ max: sealed.length - 1 }).map((i) => sealed[i]!) },
  { weight: 8, arbitrary: changedSealed },
  { weight: 3, arbitrary: hostileBytes },
  {
    weight: 1,
    arbitrary: fc.uint8Array({ minLength: 32, maxLength: 64 }).map((b) => {
      b[1] = 0x80; // noise that claims to be sealed
      return b;
    }),
  },
);

// A forged frame makes Node's decipher throw inside open (caught there); capturing 100k stacks
// would cost most of the run. A failing case still reports its counterexample.
const stackTraceLimit = Error.stackTraceLimit;
beforeAll(() => {
  Error.stackTraceLimit = 0;
});
afterAll(() => {
  Error.stackTraceLimit = stackTraceLimit;
});

describe(`fuzz FrameOpener.open (${FUZZ_RUNS} cases)`, () => {
  for (let part = 0; part < PARTS; part++) {
    it(`opens only unchanged frames, each once, and answers everything else with a counted drop (part ${part + 1}/${PARTS})`, () => {
      fc.assert(
        fc.property(fc.array(message, { minLength: 1, maxLength: 4 }), (messages) => {
          const opener = new FrameOpener(key, { now: () => REKEY_AFTER_MS });
          const opened = new Set<number>();
          let drops = 0;
          for (const m of messages) {
            const result = opener.open(m);
            if (result.drop) {
              must(REASONS.has(result.drop), () => `unlisted reason ${result.drop}`);
              drops++;
              continue;
            }
            const index = byHex.get(Buffer.from(m).toString("hex"));
            must(index !== undefined, () => `a changed frame opened: ${Buffer.from(m).toString("hex")}`);
            must(!opened.has(index!), () => `frame ${index} opened twice`);
            must(result.frame.equals(originals[index!]!), () => `frame ${index} opened to other bytes`);
            opened.add(index!);
          }
          must(opener.dropped === drops, () => `counted ${opener.dropped}, dropped ${drops}`);
        }),
        { numRuns: FUZZ_RUNS / PARTS, seed: 0x5ea10 + part },
      );
    });
  }
});
