// Fuzz: the exit's tunnel end (ExitConnection over tunnel/end.ts), fed hostile messages through the
// phone's side of an in-memory exit leg, before and after a real handshake. Whatever arrives, it never throws; a message the
// codec rejects closes the socket with exactly that error's close code; every close code is one
// of ours; and when all is over no handshake slot, session or address is left behind.
import { createHmac } from "node:crypto";
import fc from "fast-check";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authMessage, decodeFrame, encodeFrame } from "../protocol/codec.js";
import { type Encoding, fromMessage, toMessage } from "../protocol/encoding.js";
import { ErrorCodes, ProtocolError } from "../protocol/errors.js";
import { FrameType } from "../protocol/frames.js";
import {
  type MemoryTransport,
  type Message,
  memoryDrained,
  memoryTransportPair,
} from "../protocol/transport.js";
import { FUZZ_RUNS, hostileBytes, hostileText, must } from "../testing/fuzz-inputs.js";
import { createFakeTun } from "../tun/fake.js";
import { ExitConnection } from "./connection.js";
import { EgressGuard } from "./egress-guard.js";
import { AccessLimits, EXIT_LIMITS } from "./limits.js";
import { ExitMetrics } from "./metrics.js";
import { AddressPool } from "./pool.js";
import { SessionTable } from "./session.js";

const PARTS = 4;
const SECRET = new Uint8Array(32).fill(9);
const CLOSE_CODES = new Set([1000, 1006, ...Object.values(ErrorCodes).map((e) => e.close)]);

/** The phone's side of an exit leg, and the first frames the exit sent on it (CHALLENGE, then WELCOME or CLOSE). */
interface Phone {
  leg: MemoryTransport;
  exitSide: MemoryTransport;
  sent: Message[];
}

const metrics = new ExitMetrics();
const pool = new AddressPool("10.77.0.0/16");
const log = pino({ level: "silent" });
const sessions = new SessionTable({
  graceMs: 0,
  pool,
  metrics,
  log,
  release: async (from, address) => from.release(address),
});
const tun = createFakeTun("fuzz0");
const limits = new AccessLimits({
  ...EXIT_LIMITS,
  maxHandshakes: 1_000_000,
  maxSessions: 1_000_000,
  maxSessionsPerKey: 1_000_000,
});
const egress = new EgressGuard({ ownAddresses: ["198.51.100.1"] });
let sources = 0;

function connect(encoding: Encoding): Phone {
  const [leg, exitSide] = memoryTransportPair();
  const phone: Phone = { leg, exitSide, sent: [] };
  leg.onMessage((message) => {
    if (phone.sent.length < 4) phone.sent.push(message);
  });
  const admission = limits.admit(`198.18.${(sources >> 8) & 255}.${sources++ & 255}`);
  if (typeof admission === "string") throw new Error(`not admitted: ${admission}`);
  new ExitConnection(exitSide, encoding, "fuzz", {
    secretFor: async (clientId) => (clientId === "laptop-1" ? SECRET : undefined),
    pool,
    sessions,
    tun,
    metrics,
    log,
    mtu: 1400,
    dns: ["198.51.100.53"],
    keepaliveSeconds: 15,
    handshakeTimeoutMs: 60_000,
    admission,
    egress,
  });
  return phone;
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

/** Completes a real handshake as laptop-1; true once WELCOME came back. */
async function authenticate({ leg, sent }: Phone, encoding: Encoding): Promise<boolean> {
  await settle();
  const challenge = decodeFrame(fromMessage(sent[0]!));
  if (challenge?.type !== FrameType.CHALLENGE) throw new Error("no CHALLENGE first");
  // The laptop's mac, computed the quick synchronous way (same HMAC-SHA256 as helloMac).
  const mac = new Uint8Array(
    createHmac("sha256", SECRET).update(authMessage(challenge.nonce, "laptop-1")).digest(),
  );
  const hello = encodeFrame({
    type: FrameType.HELLO,
    versionMin: 1,
    versionMax: 1,
    capabilities: 0,
    clientId: "laptop-1",
    mac,
  });
  leg.send(toMessage(hello, encoding));
  // WebCrypto answers from the thread pool: wait for the answer, not for a number of turns.
  const deadline = Date.now() + 2_000;
  while (sent.length < 2 && Date.now() < deadline) await settle();
  if (sent.length < 2)
    throw new Error(
      `no answer to a valid HELLO (closed with ${leg.closed?.code}; sent ${sent.length}: ${sent.map((x) => (typeof x === "string" ? x.slice(0, 20) : Buffer.from(x).toString("hex").slice(0, 40)))})`,
    );
  const answer = decodeFrame(fromMessage(sent[1]!));
  return answer?.type === FrameType.WELCOME;
}

/** What the codec makes of this message: the ProtocolError it raises, or the frame's type. */
function codecOutcome(message: Uint8Array | string): { error?: ProtocolError; type?: number } {
  try {
    return { type: decodeFrame(fromMessage(message))?.type };
  } catch (error) {
    if (error instanceof ProtocolError) return { error };
    throw error;
  }
}

const message = fc.oneof({ weight: 3, arbitrary: hostileBytes }, { weight: 1, arbitrary: hostileText });

const outcomes = { established: 0, closedByCodec: 0, closedOtherwise: 0, open: 0 };

// Every rejected message builds a ProtocolError; its stack is not what is tested, and capturing
// 100k of them would cost most of the run. A failing case still reports its counterexample.
const stackTraceLimit = Error.stackTraceLimit;
beforeAll(() => {
  Error.stackTraceLimit = 0;
});
afterAll(() => {
  Error.stackTraceLimit = stackTraceLimit;
  console.log(`[fuzz] exit handler outcomes over ${FUZZ_RUNS} cases: ${JSON.stringify(outcomes)}`);
});

/** Feeds one case's messages and checks every answer; awaits a HELLO's check when `wait` says so. */
async function feed(
  { leg, exitSide }: Phone,
  messages: (Uint8Array | string)[],
  wait: boolean,
): Promise<void> {
  for (const m of messages) {
    if (!leg.open) break;
    const expected = codecOutcome(m);
    leg.send(m);
    // Delivered and answered, but a HELLO's check (on the thread pool) only when `wait` says so.
    await memoryDrained(leg, exitSide);
    if (expected.error) {
      must(
        leg.closed?.code === expected.error.closeCode,
        () => `closed ${leg.closed?.code}, codec said ${expected.error?.code}`,
      );
      outcomes.closedByCodec++;
    }
    if (wait && expected.type === FrameType.HELLO) await settle();
  }
  const closeCode = leg.closed?.code;
  if (closeCode !== undefined && !CODEC_CLOSES.has(closeCode)) outcomes.closedOtherwise++;
  if (closeCode === undefined) outcomes.open++;
  must(closeCode === undefined || CLOSE_CODES.has(closeCode), () => `close code ${closeCode}`);
  leg.close(1000, "");
  await memoryDrained(leg, exitSide);
  tun.written.length = 0;
}

/**
 * Cases fed before the handshake, synchronously (a HELLO's check may still be running when the
 * case closes its socket: the exit must cope with that too), and cases fed after a real handshake,
 * awaiting each HELLO's check (each costs an HMAC on the thread pool).
 */
const EARLY_RUNS = (FUZZ_RUNS * 8) / 10;
const LATE_RUNS = FUZZ_RUNS - EARLY_RUNS;
const cases = fc.tuple(
  fc.constantFrom<Encoding>("binary", "base64"),
  fc.array(message, { minLength: 1, maxLength: 3 }),
);

describe(`fuzz: the exit's message handler (${FUZZ_RUNS} cases)`, () => {
  for (let part = 0; part < PARTS; part++) {
    it(`answers hostile messages before the handshake with our close codes (part ${part + 1}/${PARTS})`, async () => {
      await fc.assert(
        fc.asyncProperty(cases, async ([encoding, messages]) => {
          await feed(connect(encoding), messages, false);
        }),
        { numRuns: EARLY_RUNS / PARTS, seed: 0x5eed + part },
      );
    }, 60_000);

    it(`answers hostile messages after a real handshake with our close codes (part ${part + 1}/${PARTS})`, async () => {
      await fc.assert(
        fc.asyncProperty(cases, async ([encoding, messages]) => {
          const phone = connect(encoding);
          must(await authenticate(phone, encoding), () => "no WELCOME for a valid HELLO");
          outcomes.established++;
          await feed(phone, messages, true);
        }),
        { numRuns: LATE_RUNS / PARTS, seed: 0x6eed + part },
      );
    }, 60_000);
  }

  it("leaves no handshake slot, session or address behind", async () => {
    const deadline = Date.now() + 10_000; // HELLO checks of the synchronous cases finishing
    while (limits.handshaking > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await new Promise((resolve) => setTimeout(resolve, 20)); // detached sessions expire (grace 0)
    expect(limits.handshaking).toBe(0);
    expect(sessions.size).toBe(0);
    expect(pool.available).toBe(2 ** 16 - 3);
  });
});

const CODEC_CLOSES = new Set<number>(
  (
    [
      "TRUNCATED",
      "LENGTH_MISMATCH",
      "FRAME_TOO_LARGE",
      "PACKET_TOO_LARGE",
      "TOO_MANY_PACKETS",
      "BAD_FIELD",
      "BAD_BASE64",
    ] as const
  ).map((code) => ErrorCodes[code].close),
);
