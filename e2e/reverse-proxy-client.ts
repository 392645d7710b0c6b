// A client of an exit behind a reverse proxy, run inside a namespace by e2e/reverse-proxy.test.ts:
// `node --import tsx e2e/reverse-proxy-client.ts JSON-ATTEMPTS`. It makes the attempts one after
// the other and prints one JSON line: what each got back.
//
//   {kind: "handshake", url, key, bind, origin?, headers?}  a laptop's handshake over a WebSocket
//        from `bind`, with extra request headers (a client's own X-Forwarded-For): WELCOME or close code
//   {kind: "raw", url, bind, request}  `request` written as is over TLS (a client's own PROXY
//        header in front of its request): the first line of the answer
//
// Every attempt is bounded (ATTEMPT_TIMEOUT_MS); every socket is closed before the next one.
import { WebSocket } from "ws";
import { fromMessage } from "../protocol/encoding.js";
import { FrameType } from "../protocol/frames.js";
import { MAX_FRAME_BYTES } from "../protocol/limits.js";
import { NoiseLaptop } from "../testing/noise-laptop.js";
import { firstAnswerLine } from "./raw-request.js";
import { socketEnd } from "./socket-end.js";

/** Longest any one attempt may take, ms. */
const ATTEMPT_TIMEOUT_MS = 15_000;

export type Attempt =
  | {
      kind: "handshake";
      url: string;
      key: string;
      bind: string;
      origin?: string;
      headers?: Record<string, string>;
    }
  | { kind: "raw"; url: string; bind: string; request: string };

export interface Outcome {
  welcomed?: boolean;
  /** The address the WELCOME gave. */
  address?: string;
  /** The close code of the WebSocket. */
  close?: number;
  /** The HTTP status of a refused upgrade, or of a raw request's answer. */
  status?: number;
  /** A raw request's first answer line. */
  line?: string;
  error?: string;
}

function handshake(a: Extract<Attempt, { kind: "handshake" }>): Promise<Outcome> {
  const socket = new WebSocket(a.url, {
    rejectUnauthorized: false,
    localAddress: a.bind,
    ...(a.origin ? { origin: a.origin } : {}),
    ...(a.headers ? { headers: a.headers } : {}),
    maxPayload: 2 * MAX_FRAME_BYTES,
  });
  const laptop = new NoiseLaptop((bytes) => socket.send(bytes));
  const outcome: Outcome = {};
  let helloSent = false;
  socket.on("message", (data, isBinary) => {
    try {
      const before = laptop.frames.length;
      laptop.receive(fromMessage(isBinary ? (data as Buffer) : data.toString()));
      if (!helloSent && laptop.challenge) {
        helloSent = true;
        laptop.hello(a.key);
      }
      for (const frame of laptop.frames.slice(before)) {
        if (frame.type !== FrameType.WELCOME) continue;
        outcome.welcomed = true;
        outcome.address = frame.address;
        socket.close(1000);
      }
    } catch (error) {
      outcome.error = String(error);
    }
  });
  return socketEnd(socket, outcome, ATTEMPT_TIMEOUT_MS).then((ended) => {
    ended.welcomed ??= false;
    return ended;
  });
}

async function raw(a: Extract<Attempt, { kind: "raw" }>): Promise<Outcome> {
  const line = await firstAnswerLine(a.url, a.bind, a.request, ATTEMPT_TIMEOUT_MS);
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(line)?.[1];
  return { line, ...(status === undefined ? {} : { status: Number(status) }) };
}

async function main(): Promise<void> {
  const attempts = JSON.parse(process.argv[2] ?? "[]") as Attempt[];
  const outcomes: Outcome[] = [];
  for (const attempt of attempts) {
    outcomes.push(attempt.kind === "handshake" ? await handshake(attempt) : await raw(attempt));
  }
  process.stdout.write(`${JSON.stringify(outcomes)}\n`);
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`reverse-proxy-client: ${error instanceof Error ? error.stack : error}\n`);
    process.exit(1);
  },
);
