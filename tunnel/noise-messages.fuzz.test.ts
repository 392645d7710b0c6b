// Fuzz: the v2 handshake decoders answer any message with a value or a ProtocolError of a listed
// code, never anything else (FUZZ_RUNS cases each); and a HELLO or RESPONSE changed anywhere never
// authenticates (fewer cases: each costs two X25519 operations).
import fc from "fast-check";
import { afterAll, beforeAll, describe, it } from "vitest";
import { encodeFrame } from "../protocol/codec.js";
import { ErrorCodes, ProtocolError } from "../protocol/errors.js";
import { FrameType } from "../protocol/frames.js";
import { FUZZ_RUNS, hostileBytes, must } from "../testing/fuzz-inputs.js";
import {
  decodeHello,
  decodeResponse,
  helloVersions,
  InitiatorHandshake,
  PROTOCOL_V2,
  RESPONSE_TYPE,
  ResponderHandshake,
} from "./noise-messages.js";

const PARTS = 2;
/** Cases for the authentication properties: each builds a handshake (key generation, two DHs). */
const AUTH_RUNS = 1_000;

const secret = Buffer.alloc(32, 0x33);
const v2 = { versionMin: PROTOCOL_V2, versionMax: PROTOCOL_V2 };
const challenge = encodeFrame({ type: FrameType.CHALLENGE, ...v2, nonce: new Uint8Array(32).fill(9) });
const resume = { token: Buffer.alloc(32, 1), secret: Buffer.alloc(32, 2) };

function validPair() {
  const laptop = new InitiatorHandshake(challenge, "laptop-1", secret, { ...v2, resume });
  const exit = new ResponderHandshake(challenge, decodeHello(laptop.hello), secret);
  exit.open();
  return { laptop, hello: laptop.hello, response: exit.respond(PROTOCOL_V2).response };
}
const sample = validPair();

/** The decoder's contract: a value, or a ProtocolError with a listed code. */
function contract<T>(decode: () => T): T | undefined {
  try {
    return decode();
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    if (ErrorCodes[error.code]?.close !== error.closeCode) throw new Error(`unlisted code ${error.code}`);
    return undefined;
  }
}

const edit = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), byte: fc.nat({ max: 255 }) }),
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("extend" as const), tail: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
);

function changed(valid: Uint8Array) {
  return fc.tuple(fc.array(edit, { minLength: 1, maxLength: 3 }), fc.boolean()).map(([edits, fixLength]) => {
    let bytes = Buffer.from(valid);
    for (const e of edits) {
      if (e.kind === "flip") bytes[e.at % bytes.length]! ^= 1 << e.bit;
      else if (e.kind === "set") bytes[e.at % bytes.length] = e.byte;
      else if (e.kind === "cut") bytes = bytes.subarray(0, e.at % (bytes.length + 1));
      else bytes = Buffer.concat([bytes, e.tail]);
    }
    if (fixLength && bytes.length >= 8) bytes.writeUInt32BE(bytes.length - 8, 4);
    return new Uint8Array(bytes);
  });
}

/** Hostile bytes, often with a HELLO or RESPONSE type byte so the layouts are reached. */
const hostile = fc.oneof(
  hostileBytes,
  changed(sample.hello),
  changed(sample.response),
  fc.tuple(fc.constantFrom(FrameType.HELLO, RESPONSE_TYPE), hostileBytes).map(([type, b]) => {
    if (b.length) b[0] = type;
    return b;
  }),
);

const stackTraceLimit = Error.stackTraceLimit;
beforeAll(() => {
  Error.stackTraceLimit = 0;
});
afterAll(() => {
  Error.stackTraceLimit = stackTraceLimit;
});

describe(`fuzz v2 handshake decoders (${FUZZ_RUNS} cases each)`, () => {
  for (let part = 0; part < PARTS; part++) {
    it(`decodeHello and helloVersions answer hostile bytes by contract, and agree (part ${part + 1}/${PARTS})`, () => {
      fc.assert(
        fc.property(hostile, (bytes) => {
          const versions = contract(() => helloVersions(bytes));
          const hello = contract(() => decodeHello(bytes));
          if (hello) {
            must(versions?.versionMin === hello.versionMin, () => "versions differ");
            must(hello.clear.length + hello.noise.length === bytes.length, () => "split loses bytes");
          }
        }),
        { numRuns: FUZZ_RUNS / PARTS, seed: 0x4e11 + part },
      );
    });

    it(`decodeResponse answers hostile bytes by contract (part ${part + 1}/${PARTS})`, () => {
      fc.assert(
        fc.property(hostile, (bytes) => {
          contract(() => decodeResponse(bytes));
        }),
        { numRuns: FUZZ_RUNS / PARTS, seed: 0x4e21 + part },
      );
    });
  }

  it(`a HELLO changed anywhere never authenticates (${AUTH_RUNS} cases)`, () => {
    fc.assert(
      fc.property(changed(sample.hello), (bytes) => {
        const hello = contract(() => decodeHello(bytes));
        if (!hello || Buffer.from(bytes).equals(sample.hello)) return;
        const opened = contract(() => new ResponderHandshake(challenge, hello, secret).open());
        must(opened?.ok !== true, () => `changed HELLO authenticated: ${Buffer.from(bytes).toString("hex")}`);
      }),
      { numRuns: AUTH_RUNS, seed: 0x4e31 },
    );
  });

  it(`a RESPONSE changed anywhere never authenticates (${AUTH_RUNS} cases)`, () => {
    fc.assert(
      fc.property(fc.nat(), (seed) => {
        const { laptop, response } = validPair();
        const bytes = fc.sample(changed(response), { numRuns: 1, seed })[0]!;
        if (Buffer.from(bytes).equals(response)) return;
        const result = contract(() => laptop.readResponse(bytes));
        must(
          result?.ok !== true,
          () => `changed RESPONSE authenticated: ${Buffer.from(bytes).toString("hex")}`,
        );
      }),
      { numRuns: AUTH_RUNS, seed: 0x4e41 },
    );
  });
});
