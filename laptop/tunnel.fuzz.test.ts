// Fuzz: the laptop's tunnel end (LaptopTunnel over tunnel/end.ts), fed hostile messages from "the
// exit" through the phone's side of an in-memory laptop leg, while handshaking and once
// established through a real (v2, Noise) handshake. Whatever arrives, it never throws; while
// handshaking a clear message the codec rejects closes the leg with exactly that error's close
// code, and every close code is one of ours; once established nothing a relay can make up ends the
// leg or the session (it is dropped and counted); only a refused key or version is ever fatal.
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
import { challengeFrame, newNonce } from "../tunnel/handshake.js";
import { decodeHello, RESPONSE_TYPE, ResponderHandshake } from "../tunnel/noise-messages.js";
import { isSealed } from "../tunnel/seal.js";
import { LegSeal } from "../tunnel/seal-leg.js";
import { LaptopTunnel, type TunnelError } from "./tunnel.js";

const PARTS = 4;
const STATES = new Set(["waiting", "handshaking", "established"]);
const FATAL = new Set(["AUTH_FAILED", "UNSUPPORTED_VERSION"]);
const CLOSE_CODES = new Set([1000, 1006, ...Object.values(ErrorCodes).map((e) => e.close)]);

const settle = () => new Promise((resolve) => setImmediate(resolve));

const SECRET = Buffer.alloc(32, 9);
const tun = createFakeTun("fuzz1");
const fatal: TunnelError[] = [];
const tunnel = new LaptopTunnel(tun, parseClientKey(`laptop-1:${SECRET.toString("base64url")}`), {
  welcome: async () => undefined,
  state: () => undefined,
  fatal: (error) => fatal.push(error),
});

const WELCOME = encodeFrame({
  type: FrameType.WELCOME,
  version: 2,
  sessionId: new Uint8Array(16),
  resumeToken: new Uint8Array(32),
  address: "10.77.0.2",
  prefixLength: 32,
  mtu: 1400,
  dns: ["198.51.100.53"],
  keepaliveSeconds: 15,
  resumed: false,
});

/**
 * The codec's error for this message while handshaking, if any. A sealed message is dropped
 * unopened (no keys yet), and v2's HELLO and RESPONSE have layouts of their own
 * (tunnel/noise-messages.ts): no expectation there beyond "one of our close codes".
 */
function codecError(message: Uint8Array | string): ProtocolError | undefined {
  try {
    const bytes = fromMessage(message);
    if (
      bytes.length >= 8 &&
      (isSealed(bytes) || bytes[0] === FrameType.HELLO || bytes[0] === RESPONSE_TYPE)
    ) {
      return undefined;
    }
    decodeFrame(bytes);
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
function attach(encoding: Encoding, heard: Uint8Array[] = []): [MemoryTransport, MemoryTransport] {
  const [phone, laptop] = memoryTransportPair();
  phone.onMessage((message) => {
    if (heard.length < 4) heard.push(fromMessage(message));
  });
  tunnel.attach(laptop, encoding, "fuzz");
  return [phone, laptop];
}

/** A leg established through a real handshake, the test playing the exit behind the phone. */
async function establish(encoding: Encoding): Promise<[MemoryTransport, MemoryTransport]> {
  const heard: Uint8Array[] = [];
  const leg = attach(encoding, heard);
  const [phone, laptop] = leg;
  const challenge = encodeFrame(challengeFrame(newNonce()));
  phone.send(toMessage(challenge, encoding));
  await memoryDrained(phone, laptop);
  const hello = heard.find((m) => m[0] === FrameType.HELLO);
  if (!hello) throw new Error("no HELLO for a CHALLENGE");
  const exit = new ResponderHandshake(challenge, decodeHello(hello), SECRET);
  must(exit.open().ok, () => "the laptop's HELLO did not open");
  const { response, keys } = exit.respond(2);
  const seal = new LegSeal("exit");
  seal.install(keys);
  phone.send(toMessage(response, encoding));
  phone.send(toMessage(seal.outbound(WELCOME), encoding));
  await memoryDrained(phone, laptop);
  await settle(); // the WELCOME's handling awaits the owner's configuration
  must(tunnel.state === "established", () => `state ${tunnel.state} after WELCOME`);
  outcomes.established++;
  return leg;
}

/**
 * An established leg serves many cases (made-up messages cannot end it): a real handshake for
 * every case would cost most of the run. A new one every CASES_PER_LEG cases or encoding change.
 */
const CASES_PER_LEG = 100;
let current: { leg: [MemoryTransport, MemoryTransport]; encoding: Encoding; cases: number } | undefined;

async function established(encoding: Encoding): Promise<[MemoryTransport, MemoryTransport]> {
  if (current && current.encoding === encoding && current.cases < CASES_PER_LEG) {
    current.cases++;
    return current.leg;
  }
  await closeEstablished();
  current = { leg: await establish(encoding), encoding, cases: 1 };
  return current.leg;
}

async function closeEstablished(): Promise<void> {
  if (!current) return;
  const [phone, laptop] = current.leg;
  current = undefined;
  phone.close(1000, "");
  await memoryDrained(phone, laptop);
}

/** Feeds one case's messages to the leg and checks every answer (`keyed`: nothing may end it). */
async function feed(
  [phone, laptop]: [MemoryTransport, MemoryTransport],
  messages: (Uint8Array | string)[],
  keyed = false,
): Promise<void> {
  for (const m of messages) {
    if (!phone.open) break;
    const expected = codecError(m);
    phone.send(m);
    await memoryDrained(phone, laptop);
    if (keyed) {
      must(phone.open, () => `a made-up message ended the leg (close ${phone.closed?.code})`);
      must(tunnel.state === "established", () => `a made-up message left the tunnel ${tunnel.state}`);
      continue;
    }
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
  if (keyed) {
    tun.written.length = 0;
    return; // the leg goes on to the next case
  }
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

    it(`drops hostile messages once established, and the leg and session stay (part ${part + 1}/${PARTS})`, async () => {
      // One relay at a time: the encoding is the part's, so one leg serves a hundred cases.
      const encoding: Encoding = part % 2 === 0 ? "binary" : "base64";
      await fc.assert(
        fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 3 }), async (messages) => {
          await feed(await established(encoding), messages, true);
        }),
        { numRuns: ESTABLISHED_RUNS / PARTS, seed: 0x2a97 + part },
      );
      await closeEstablished();
    }, 60_000);
  }
});
