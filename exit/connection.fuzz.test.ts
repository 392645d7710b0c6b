// Fuzz: the exit's tunnel end (ExitConnection over tunnel/end.ts), fed hostile messages through the
// phone's side of an in-memory exit leg, before and after a real (v2, Noise) handshake. Whatever
// arrives, it never throws; before the handshake a clear message the codec rejects closes the
// socket with exactly that error's close code, and every close code is one of ours; after it,
// nothing a relay can make up ends the session (every such message is dropped and counted); and
// when all is over no handshake slot, session or address is left behind.
import fc from "fast-check";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeFrame } from "../protocol/codec.js";
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
import { NoiseLaptop } from "../testing/noise-laptop.js";
import { until } from "../testing/until.js";
import { createFakeTun } from "../tun/fake.js";
import { RESPONSE_TYPE } from "../tunnel/noise-messages.js";
import { isSealed } from "../tunnel/seal.js";
import { ExitConnection } from "./connection.js";
import { EgressGuard } from "./egress-guard.js";
import { AccessLimits, EXIT_LIMITS } from "./limits.js";
import { ExitMetrics } from "./metrics.js";
import { AddressPool } from "./pool.js";
import { SessionTable } from "./session.js";

const PARTS = 4;
const SECRET = new Uint8Array(32).fill(9);
const KEY = `laptop-1:${Buffer.from(SECRET).toString("base64url")}`;
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
  if ("code" in admission) throw new Error(`not admitted: ${admission.code}`);
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

/** Completes a real v2 handshake as laptop-1; true once a sealed WELCOME came back. */
async function authenticate({ leg, sent }: Phone, encoding: Encoding): Promise<boolean> {
  await settle();
  const laptop = new NoiseLaptop((bytes) => leg.send(toMessage(bytes, encoding)));
  laptop.receive(fromMessage(sent[0]!));
  if (!laptop.challenge) throw new Error("no CHALLENGE first");
  laptop.hello(KEY);
  // The client's key is looked up asynchronously: wait for the answer, not for a number of turns.
  const deadline = Date.now() + 2_000;
  while (sent.length < 3 && Date.now() < deadline) await settle();
  if (sent.length < 3)
    throw new Error(`no answer to a valid HELLO (closed with ${leg.closed?.code}; sent ${sent.length})`);
  laptop.receive(fromMessage(sent[1]!)); // RESPONSE: the keys
  laptop.receive(fromMessage(sent[2]!)); // WELCOME, sealed
  return laptop.frames.at(-1)?.type === FrameType.WELCOME && laptop.sealed.at(-1) === true;
}

/**
 * What the codec makes of this message before the handshake: the ProtocolError it raises, or the
 * frame's type. A sealed message is dropped unopened (no keys yet), and the v2 handshake frames
 * (HELLO, RESPONSE) have layouts of their own (tunnel/noise-messages.ts): no expectation there
 * beyond "one of our close codes".
 */
function codecOutcome(message: Uint8Array | string): { error?: ProtocolError; type?: number } {
  let bytes: Uint8Array;
  try {
    bytes = fromMessage(message);
  } catch (error) {
    if (error instanceof ProtocolError) return { error };
    throw error;
  }
  if (bytes.length >= 8 && (isSealed(bytes) || bytes[0] === FrameType.HELLO || bytes[0] === RESPONSE_TYPE)) {
    return { type: bytes[0] };
  }
  try {
    return { type: decodeFrame(bytes)?.type };
  } catch (error) {
    if (error instanceof ProtocolError) return { error };
    throw error;
  }
}

const message = fc.oneof({ weight: 3, arbitrary: hostileBytes }, { weight: 1, arbitrary: hostileText });

const outcomes = { established: 0, closedByCodec: 0, closedOtherwise: 0, open: 0, keptAfterHandshake: 0 };

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

/**
 * Feeds one case's messages and checks every answer. `keyed`: after a real handshake, when nothing
 * may end the session; before it, a HELLO's check may still be running when the case closes.
 */
async function feed(
  { leg, exitSide }: Phone,
  messages: (Uint8Array | string)[],
  keyed: boolean,
): Promise<void> {
  for (const m of messages) {
    if (!leg.open) break;
    const expected = codecOutcome(m);
    leg.send(m);
    await memoryDrained(leg, exitSide);
    if (keyed) {
      must(leg.closed === undefined, () => `a made-up message ended the session (close ${leg.closed?.code})`);
      continue;
    }
    if (expected.error) {
      must(
        leg.closed?.code === expected.error.closeCode,
        () => `closed ${leg.closed?.code}, codec said ${expected.error?.code}`,
      );
      outcomes.closedByCodec++;
    }
  }
  if (keyed) {
    outcomes.keptAfterHandshake++;
    tun.written.length = 0;
    return; // the session goes on to the next case
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

/**
 * A session made up stuff cannot end serves many cases: a real handshake (two X25519 operations
 * and a key lookup) for every case would cost most of the run. A new one every CASES_PER_SESSION
 * cases, or when the case's encoding differs.
 */
const CASES_PER_SESSION = 100;
const current = new Map<Encoding, { phone: Phone; cases: number }>();

async function established(encoding: Encoding): Promise<Phone> {
  const session = current.get(encoding);
  if (session && session.cases < CASES_PER_SESSION) {
    session.cases++;
    return session.phone;
  }
  if (session) await closeSession(session.phone);
  const phone = connect(encoding);
  must(await authenticate(phone, encoding), () => "no WELCOME for a valid HELLO");
  outcomes.established++;
  current.set(encoding, { phone, cases: 1 });
  return phone;
}

async function closeSession({ leg, exitSide }: Phone): Promise<void> {
  leg.close(1000, "");
  await memoryDrained(leg, exitSide);
}

async function closeEstablished(): Promise<void> {
  for (const { phone } of current.values()) await closeSession(phone);
  current.clear();
}

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

    it(`drops hostile messages after a real handshake, counted, and the session stays (part ${part + 1}/${PARTS})`, async () => {
      await fc.assert(
        fc.asyncProperty(cases, async ([encoding, messages]) => {
          await feed(await established(encoding), messages, true);
        }),
        { numRuns: LATE_RUNS / PARTS, seed: 0x6eed + part },
      );
      await closeEstablished();
    }, 60_000);
  }

  it("leaves no handshake slot, session or address behind", async () => {
    const deadline = Date.now() + 10_000; // HELLO checks of the synchronous cases finishing
    while (limits.handshaking > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    // Detached sessions expire (grace 0) on a timer of their own.
    await until(() => sessions.size === 0 && pool.available === 2 ** 16 - 3, "the sessions to expire").catch(
      () => undefined, // the expectations below say what is left
    );
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
