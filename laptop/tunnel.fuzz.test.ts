// Fuzz: the laptop's message handler (LaptopTunnel), fed hostile messages from "the exit" directly
// through a fake relay socket, while handshaking and once established. Whatever arrives, it never
// throws; a message the codec rejects closes the relay with exactly that error's close code; every
// close code is one of ours; only a refused key or version is ever fatal.
import { EventEmitter } from "node:events";
import fc from "fast-check";
import { afterAll, beforeAll, describe, it } from "vitest";
import type { WebSocket } from "ws";
import { parseClientKey } from "../protocol/client-key.js";
import { decodeFrame, encodeFrame } from "../protocol/codec.js";
import { type Encoding, fromMessage } from "../protocol/encoding.js";
import { ErrorCodes, ProtocolError } from "../protocol/errors.js";
import { FrameType } from "../protocol/frames.js";
import { FUZZ_RUNS, hostileBytes, hostileText, must } from "../testing/fuzz-inputs.js";
import { createFakeTun } from "../tun/fake.js";
import { LaptopTunnel, type TunnelError } from "./tunnel.js";

const PARTS = 4;
const STATES = new Set(["waiting", "handshaking", "established"]);
const FATAL = new Set(["AUTH_FAILED", "UNSUPPORTED_VERSION"]);
const CLOSE_CODES = new Set([1000, 1006, ...Object.values(ErrorCodes).map((e) => e.close)]);

/** Just enough of a ws WebSocket for the tunnel and its send queue. */
class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  closeCode: number | undefined;

  send(_data: Uint8Array | string, callback?: (error?: Error) => void): void {
    if (callback) queueMicrotask(callback);
  }

  close(code = 1000): void {
    if (this.readyState !== 1) return;
    this.closeCode = code;
    this.readyState = 3;
    this.emit("close", code, Buffer.alloc(0));
  }

  terminate(): void {
    this.close(1006);
  }
}

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

/** Feeds one case's messages to a relay socket and checks every answer. */
function feed(socket: FakeSocket, messages: (Uint8Array | string)[]): void {
  for (const m of messages) {
    if (socket.readyState !== 1) break;
    const expected = codecError(m);
    const isBinary = typeof m !== "string";
    socket.emit(
      "message",
      isBinary ? Buffer.from(m.buffer, m.byteOffset, m.length) : Buffer.from(m),
      isBinary,
    );
    if (expected) {
      must(
        socket.closeCode === expected.closeCode,
        () => `closed ${socket.closeCode}, codec said ${expected.code}`,
      );
      outcomes.closedByCodec++;
    }
  }
  if (socket.closeCode === undefined) outcomes.open++;
  must(
    socket.closeCode === undefined || CLOSE_CODES.has(socket.closeCode),
    () => `close code ${socket.closeCode}`,
  );
  must(STATES.has(tunnel.state), () => `state ${tunnel.state}`);
  for (const error of fatal.splice(0)) must(FATAL.has(error.code), () => `fatal ${error.code}`);
  socket.close(1000);
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
    it(`answers hostile messages while handshaking with our close codes (part ${part + 1}/${PARTS})`, () => {
      fc.assert(
        fc.property(cases, ([encoding, messages]) => {
          const socket = new FakeSocket();
          tunnel.attach(socket as unknown as WebSocket, encoding, "fuzz");
          feed(socket, messages);
        }),
        { numRuns: HANDSHAKING_RUNS / PARTS, seed: 0x1a97 + part },
      );
    });

    it(`answers hostile messages once established with our close codes (part ${part + 1}/${PARTS})`, async () => {
      await fc.assert(
        fc.asyncProperty(cases, async ([encoding, messages]) => {
          const socket = new FakeSocket();
          tunnel.attach(socket as unknown as WebSocket, encoding, "fuzz");
          socket.emit("message", Buffer.from(WELCOME), true);
          await Promise.resolve();
          await Promise.resolve();
          must(tunnel.state === "established", () => `state ${tunnel.state} after WELCOME`);
          outcomes.established++;
          feed(socket, messages);
        }),
        { numRuns: ESTABLISHED_RUNS / PARTS, seed: 0x2a97 + part },
      );
    }, 60_000);
  }
});
