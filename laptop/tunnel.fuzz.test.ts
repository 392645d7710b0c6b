// Fuzz: the laptop's tunnel end (LaptopTunnel over tunnel/end.ts), fed hostile messages from "the
// exit" through the phone's side of an in-memory laptop leg, while handshaking and once
// established. Whatever arrives, it never throws; a message the codec rejects closes the leg with
// exactly that error's close code; every close code is one of ours; only a refused key or version
// is ever fatal.
import fc from "fast-check";
import { afterAll, beforeAll, describe, it } from "vitest";
import { parseClientKey } from "../protocol/client-key.js";
import { decodeFrame, encodeFrame } from "../protocol/codec.js";
import { type Encoding, fromMessage, toMessage } from "../protocol/encoding.js";
import { ErrorCodes, ProtocolError } from "../protocol/errors.js";
import { FrameType } from "../protocol/frames.js";
import { type MemoryTransport, memoryDrained, memoryTransportPair } from "../protocol/transport.js";
import { FUZZ_RUNS, hostileBytes, hostileText, must } from "../testing/fuzz-inputs.js";
import { createFakeTun } from "../tun/fake.js";
import { LaptopTunnel, type TunnelError } from "./tunnel.js";

const PARTS = 4;
const STATES = new Set(["waiting", "handshaking", "established"]);
const FATAL = new Set(["AUTH_FAILED", "UNSUPPORTED_VERSION"]);
const CLOSE_CODES = new Set([1000, 1006, ...Object.values(ErrorCodes).map((e) => e.close)]);

const settle = () => new Promise((resolve) => setImmediate(resolve));

const tun = createFakeTun("fuzz1");
const fatal: TunnelError[] = [];
const tunnel = new LaptopTunnel(
  tun,
  parseClientKey(`laptop-1:${Buffer.alloc(32, 9).toString("base64url")}`),
  {
    welcome: async () => undefined,
    state: () => undefined,
    fatal: (error) => fatal.push(error),
  },
);

const WELCOME = encodeFrame({
  type: FrameType.WELCOME,
  version: 1,
  sessionId: new Uint8Array(16),
  resumeToken: new Uint8Array(32),
  address: "10.77.0.2",
  prefixLength: 32,
  mtu: 1400,
  dns: ["198.51.100.53"],
  keepaliveSeconds: 15,
  resumed: false,
});

function codecError(message: Uint8Array | string): ProtocolError | undefined {
  try {
    decodeFrame(fromMessage(message));
  } catch (error) {
    if (error instanceof ProtocolError) return error;
    throw error;
  }
  return undefined;
}

const message = fc.oneof({ weight: 3, arbitrary: hostileBytes }, { weight: 1, arbitrary: hostileText });
const outcomes = { established: 0, closedByCodec: 0, open: 0 };

// Stacks of 100k ProtocolErrors are not what is tested; a failing case still shows its input.
const stackTraceLimit = Error.stackTraceLimit;
beforeAll(() => {
  Error.stackTraceLimit = 0;
});
afterAll(() => {
  Error.stackTraceLimit = stackTraceLimit;
  tunnel.close();
  console.log(`[fuzz] laptop handler outcomes over ${FUZZ_RUNS} cases: ${JSON.stringify(outcomes)}`);
});

/** A new laptop leg: the tunnel end gets one side, the test plays the phone on the other. */
function attach(encoding: Encoding): [MemoryTransport, MemoryTransport] {
  const [phone, laptop] = memoryTransportPair();
  phone.onMessage(() => undefined);
  tunnel.attach(laptop, encoding, "fuzz");
  return [phone, laptop];
}

/** Feeds one case's messages to the leg and checks every answer. */
async function feed(
  [phone, laptop]: [MemoryTransport, MemoryTransport],
  messages: (Uint8Array | string)[],
): Promise<void> {
  for (const m of messages) {
    if (!phone.open) break;
    const expected = codecError(m);
    phone.send(m);
    await memoryDrained(phone, laptop);
    if (expected) {
      must(
        phone.closed?.code === expected.closeCode,
        () => `closed ${phone.closed?.code}, codec said ${expected.code}`,
      );
      outcomes.closedByCodec++;
    }
  }
  const closeCode = phone.closed?.code;
  if (closeCode === undefined) outcomes.open++;
  must(closeCode === undefined || CLOSE_CODES.has(closeCode), () => `close code ${closeCode}`);
  must(STATES.has(tunnel.state), () => `state ${tunnel.state}`);
  for (const error of fatal.splice(0)) must(FATAL.has(error.code), () => `fatal ${error.code}`);
  phone.close(1000, "");
  await memoryDrained(phone, laptop);
  tun.written.length = 0;
}

/** Cases fed while handshaking (synchronous: nothing to wait for) and once established. */
const HANDSHAKING_RUNS = (FUZZ_RUNS * 7) / 10;
const ESTABLISHED_RUNS = FUZZ_RUNS - HANDSHAKING_RUNS;
const cases = fc.tuple(
  fc.constantFrom<Encoding>("binary", "base64"),
  fc.array(message, { minLength: 1, maxLength: 3 }),
);

describe(`fuzz: the laptop's message handler (${FUZZ_RUNS} cases)`, () => {
  for (let part = 0; part < PARTS; part++) {
    it(`answers hostile messages while handshaking with our close codes (part ${part + 1}/${PARTS})`, async () => {
      await fc.assert(
        fc.asyncProperty(cases, async ([encoding, messages]) => {
          await feed(attach(encoding), messages);
        }),
        { numRuns: HANDSHAKING_RUNS / PARTS, seed: 0x1a97 + part },
      );
    }, 60_000);

    it(`answers hostile messages once established with our close codes (part ${part + 1}/${PARTS})`, async () => {
      await fc.assert(
        fc.asyncProperty(cases, async ([encoding, messages]) => {
          const leg = attach(encoding);
          leg[0].send(toMessage(WELCOME, encoding));
          await settle(); // the WELCOME's handling awaits the owner's configuration
          must(tunnel.state === "established", () => `state ${tunnel.state} after WELCOME`);
          outcomes.established++;
          await feed(leg, messages);
        }),
        { numRuns: ESTABLISHED_RUNS / PARTS, seed: 0x2a97 + part },
      );
    }, 60_000);
  }
});
