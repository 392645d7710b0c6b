// Fuzz: every decoder answers any input with a value or its stable error, never anything else.
// FUZZ_RUNS cases per decoder, split into parts so each test stays well under its timeout.
import fc from "fast-check";
import { afterAll, beforeAll, describe, it } from "vitest";
import { FUZZ_RUNS, hostileBytes, hostileText, must } from "../testing/fuzz-inputs.js";
import { decodeFrame } from "./codec.js";
import { fromMessage, peekHeader } from "./encoding.js";
import { ErrorCodes, ProtocolError } from "./errors.js";
import { FrameType } from "./frames.js";
import { fromText } from "./text.js";

const PARTS = 4;
const KNOWN_TYPES = new Set<number>(Object.values(FrameType));

/** The decoder's contract: a known frame, undefined (unknown type), or a ProtocolError with a listed code. */
function contract<T>(decode: () => T): T | undefined {
  try {
    return decode();
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    if (ErrorCodes[error.code]?.close !== error.closeCode) throw new Error(`unlisted code ${error.code}`);
    return undefined;
  }
}

// Every rejected input builds a ProtocolError; its stack is not what is tested, and capturing 100k
// of them would cost most of the run. A failing case still reports its counterexample.
const stackTraceLimit = Error.stackTraceLimit;
beforeAll(() => {
  Error.stackTraceLimit = 0;
});
afterAll(() => {
  Error.stackTraceLimit = stackTraceLimit;
});

describe(`fuzz (${FUZZ_RUNS} cases per decoder)`, () => {
  for (let part = 0; part < PARTS; part++) {
    it(`decodeFrame answers hostile bytes with a frame, undefined or a ProtocolError (part ${part + 1}/${PARTS})`, () => {
      fc.assert(
        fc.property(hostileBytes, (bytes) => {
          const frame = contract(() => decodeFrame(bytes));
          if (frame) must(KNOWN_TYPES.has(frame.type), () => `decoded type ${frame.type}`);
        }),
        { numRuns: FUZZ_RUNS / PARTS, seed: 0x7e7e + part },
      );
    });

    it(`peekHeader (the phone's only look into a frame) never throws, and agrees with decodeFrame (part ${part + 1}/${PARTS})`, () => {
      fc.assert(
        fc.property(fc.oneof(hostileBytes, hostileText), (message) => {
          const header = peekHeader(message);
          const bytes = contract(() => fromMessage(message));
          const frame = bytes && contract(() => decodeFrame(bytes));
          if (frame) {
            must(
              header?.type === frame.type,
              () => `peekHeader says ${header?.type}, frame is ${frame.type}`,
            );
            if (frame.type === FrameType.DATA)
              must(header?.count === frame.packets.length, () => "count differs");
          }
        }),
        { numRuns: FUZZ_RUNS / PARTS, seed: 0x7e80 + part },
      );
    });

    it(`fromText answers hostile text with bytes or a ProtocolError, and its bytes decode by contract (part ${part + 1}/${PARTS})`, () => {
      fc.assert(
        fc.property(hostileText, (text) => {
          const bytes = contract(() => fromText(text));
          if (bytes) contract(() => decodeFrame(bytes));
        }),
        { numRuns: FUZZ_RUNS / PARTS, seed: 0x7e7f + part },
      );
    });
  }
});
