// The hostile relay of e2e/hostile-relay.test.ts: a man in the middle on the laptop leg, run in the
// laptop's namespace: `node --import tsx e2e/hostile-relay-proxy.ts CONFIG-JSON`.
//
//   real page (phone ns) ==wss==> this proxy (laptop ns, :7444) ==wss==> tether (laptop ns, :7443)
//
// The page and the proxy together are the relay an attacker controls: whoever holds what the phone
// holds (the pairing secret, a certificate the phone trusts for the laptop's address). It forwards
// every message both ways, reads each one for the needles it was given (text that crossed the
// tunnel in the clear inside packets), and on command replays, flips bits, reorders, injects,
// swaps a HELLO for one of an earlier connection, or closes with any code.
//
// Directions: `toLaptop` is what the page sends the laptop (the exit's frames and the phone's own
// leg pings); `toExit` is what the laptop sends (the page relays it to the exit). An injected
// message goes to that side's socket as if the other side had sent it.
//
// Commands: one JSON object per line on stdin, `{"id": N, "cmd": ..., ...}`; each answered by one
// JSON line on stdout, `{"id": N, "ok": true, ...}` or `{"id": N, "ok": false, "error": ...}`.
//
//   report                      what passed: messages, bytes, types, needle hits, HELLOs seen
//   replay {to}                 the last sealed DATA seen going `to`, sent again
//   flip {to, at: [i...]}       the next sealed DATA going `to`: first a copy with one bit flipped
//                               at each offset (negative: from the end), then the frame itself
//   inject {to, hex}            these bytes as a message
//   swap {to}                   the next two sealed DATA frames going `to`, delivered second first
//   hold {to, frames, timeoutMs?}  the next sealed DATA going `to` held back until `frames` more
//                               sealed frames have passed that way, then delivered
//   substituteHello {index}     the laptop's next HELLO replaced by the index-th HELLO seen
//   close {code}                both sockets of the current connection closed with `code`
//
// Bounded: a command waits at most COMMAND_TIMEOUT_MS (a hold: its timeoutMs, at most
// MAX_COMMAND_TIMEOUT_MS); the proxy exits when stdin closes.
import { readFileSync } from "node:fs";
import { createServer } from "node:https";
import { createInterface } from "node:readline";
import { type RawData, WebSocket, WebSocketServer } from "ws";
import { HeaderFlag } from "../protocol/frames.js";
import { MAX_FRAME_BYTES } from "../protocol/limits.js";

/** Longest a command may wait for the traffic it acts on, ms. */
const COMMAND_TIMEOUT_MS = 60_000;
/** Longest a hold may be asked to wait: a window of frames takes a while on a loaded machine. */
const MAX_COMMAND_TIMEOUT_MS = 300_000;
/** Page messages held while the laptop side is still connecting (the page sends little then). */
const MAX_PENDING_MESSAGES = 1_024;
const DATA_TYPE = 4;
const HELLO_TYPE = 2;
/** Bit flipped by `flip`: flags bit 2 is unknown to the protocol, so only the tag can catch it. */
const FLIP_MASK = 0x04;

interface Config {
  host: string;
  port: number;
  /** wss://HOST:PORT of the real laptop. */
  upstream: string;
  cert: string;
  key: string;
  /** Name -> hex bytes that must never appear in a relayed message. */
  needles: Record<string, string>;
}

type Direction = "toLaptop" | "toExit";

interface Pair {
  index: number;
  page: WebSocket;
  laptop: WebSocket;
  pending: { data: Buffer; binary: boolean }[];
}

interface Tally {
  messages: number;
  bytes: number;
  sealed: number;
  /** By "type" or "type sealed", e.g. {"4s": 120, "5": 40}. */
  types: Record<string, number>;
  injected: number;
}

const config = JSON.parse(process.argv[2] ?? "{}") as Config;
const needles = Object.entries(config.needles).map(([name, hex]) => ({
  name,
  bytes: Buffer.from(hex, "hex"),
}));
const hits: Record<string, number> = Object.fromEntries(needles.map((n) => [n.name, 0]));
const tally: Record<Direction, Tally> = { toLaptop: newTally(), toExit: newTally() };
const lastData: Partial<Record<Direction, Buffer>> = {};
const hellos: { connection: number; bytes: Buffer }[] = [];
let connections = 0;
let current: Pair | undefined;

function newTally(): Tally {
  return { messages: 0, bytes: 0, sealed: 0, types: {}, injected: 0 };
}

const isSealed = (frame: Buffer) => frame.length > 1 && (frame[1]! & HeaderFlag.SEALED) !== 0;

// --- attacks armed by commands, acting on the traffic as it passes ---------------------------

type Done = (result: Record<string, unknown>) => void;

/** `swap`: the first sealed DATA is held, delivered right after the second. */
const swaps: Partial<Record<Direction, { held?: Buffer; done: Done }>> = {};
/** `flip`: the next sealed DATA goes on after forged copies of it (its counter not yet seen). */
const flips: Partial<Record<Direction, { at: number[]; done: Done }>> = {};
/** `hold`: one sealed DATA held until `frames` sealed frames have passed after it. */
const holds: Partial<Record<Direction, { held?: Buffer; passed: number; frames: number; done: Done }>> = {};
let helloSwap: { index: number; done: Done } | undefined;

/** What the relay does with one message: forward it, or keep it back for an attack. */
function relay(pair: Pair, to: Direction, data: Buffer, binary: boolean): void {
  const frame = binary ? data : Buffer.from(data.toString(), "base64");
  record(to, frame);
  const sealedData = isSealed(frame) && frame[0] === DATA_TYPE;
  if (sealedData) lastData[to] = Buffer.from(data);
  if (to === "toExit" && frame[0] === HELLO_TYPE && !isSealed(frame)) {
    hellos.push({ connection: pair.index, bytes: Buffer.from(data) });
    const swap = helloSwap;
    if (swap && swap.index < hellos.length - 1) {
      helloSwap = undefined;
      send(pair, to, hellos[swap.index]!.bytes, binary);
      swap.done({ replaced: hellos.length - 1, with: swap.index });
      return;
    }
  }
  const flip = flips[to];
  if (flip && sealedData) {
    delete flips[to];
    for (const at of flip.at) {
      const forged = Buffer.from(frame);
      const offset = at < 0 ? forged.length + at : Math.min(at, forged.length - 1);
      forged[offset]! ^= FLIP_MASK;
      tally[to].injected++;
      send(pair, to, forged, true);
    }
    send(pair, to, data, binary);
    flip.done({ sent: flip.at.length });
    return;
  }
  const hold = holds[to];
  if (hold && isSealed(frame)) {
    if (!hold.held && sealedData) {
      hold.held = Buffer.from(data);
      return;
    }
    if (hold.held) {
      send(pair, to, data, binary);
      if (++hold.passed >= hold.frames) {
        delete holds[to];
        send(pair, to, hold.held, binary);
        hold.done({ passed: hold.passed });
      }
      return;
    }
  }
  const swap = swaps[to];
  if (swap && sealedData) {
    if (!swap.held) {
      swap.held = Buffer.from(data);
      return;
    }
    delete swaps[to];
    send(pair, to, data, binary);
    send(pair, to, swap.held, binary);
    swap.done({ swapped: 2 });
    return;
  }
  send(pair, to, data, binary);
}

function record(to: Direction, frame: Buffer): void {
  const t = tally[to];
  t.messages++;
  t.bytes += frame.length;
  const sealed = isSealed(frame);
  if (sealed) t.sealed++;
  const type = `${frame[0] ?? "empty"}${sealed ? "s" : ""}`;
  t.types[type] = (t.types[type] ?? 0) + 1;
  for (const needle of needles) if (frame.includes(needle.bytes)) hits[needle.name]!++;
}

function send(pair: Pair, to: Direction, data: Buffer, binary: boolean): void {
  const socket = to === "toLaptop" ? pair.laptop : pair.page;
  if (to === "toLaptop" && socket.readyState === WebSocket.CONNECTING) {
    if (pair.pending.length < MAX_PENDING_MESSAGES) pair.pending.push({ data, binary });
    return;
  }
  if (socket.readyState === WebSocket.OPEN) socket.send(data, { binary });
}

/** A WebSocket close code another socket may be closed with (1005/1006 are never sent). */
function sendable(code: number): number {
  return code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000;
}

// --- the two sides ------------------------------------------------------------------------------

const server = createServer(
  { cert: readFileSync(config.cert), key: readFileSync(config.key) },
  (_req, res) => {
    res.writeHead(404).end();
  },
);
const wss = new WebSocketServer({ noServer: true, maxPayload: 2 * MAX_FRAME_BYTES });

server.on("upgrade", (request, socket, head) => {
  wss.handleUpgrade(request, socket, head, (page) => {
    const laptop = new WebSocket(`${config.upstream}${request.url ?? "/"}`, {
      rejectUnauthorized: false,
      perMessageDeflate: false,
      maxPayload: 2 * MAX_FRAME_BYTES,
      ...(request.headers.origin ? { origin: request.headers.origin } : {}),
    });
    const pair: Pair = { index: connections++, page, laptop, pending: [] };
    current = pair;
    const asBuffer = (data: RawData) =>
      Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    page.on("message", (data, binary) => relay(pair, "toLaptop", asBuffer(data), binary));
    laptop.on("message", (data, binary) => relay(pair, "toExit", asBuffer(data), binary));
    laptop.on("open", () => {
      for (const { data, binary } of pair.pending.splice(0)) laptop.send(data, { binary });
    });
    page.on("close", (code) => {
      if (laptop.readyState <= WebSocket.OPEN) laptop.close(sendable(code));
    });
    laptop.on("close", (code) => {
      if (page.readyState <= WebSocket.OPEN) page.close(sendable(code));
    });
    page.on("error", () => laptop.terminate());
    laptop.on("error", () => page.terminate());
  });
});

// --- commands -----------------------------------------------------------------------------------

interface Command {
  id: number;
  cmd: string;
  to?: Direction;
  at?: number[];
  hex?: string;
  frames?: number;
  index?: number;
  code?: number;
  timeoutMs?: number;
}

function answer(id: number, body: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ id, ...body })}\n`);
}

/** Waits for an armed attack to act, bounded. */
function armed(
  id: number,
  arm: (done: Done) => void,
  disarm: () => void,
  timeoutMs = COMMAND_TIMEOUT_MS,
): void {
  const waitMs = Math.min(timeoutMs, MAX_COMMAND_TIMEOUT_MS);
  const timer = setTimeout(() => {
    disarm();
    answer(id, { ok: false, error: `timed out after ${waitMs} ms` });
  }, waitMs);
  arm((result) => {
    clearTimeout(timer);
    answer(id, { ok: true, ...result });
  });
}

function inject(to: Direction, data: Buffer): void {
  if (!current) throw new Error("no connection");
  tally[to].injected++;
  send(current, to, data, true);
}

function run(command: Command): void {
  const { id } = command;
  const to = command.to ?? "toLaptop";
  switch (command.cmd) {
    case "report":
      answer(id, { ok: true, connections, hellos: hellos.length, tally, hits });
      return;
    case "replay": {
      const frame = lastData[to];
      if (!frame) throw new Error(`no sealed DATA seen ${to}`);
      inject(to, frame);
      answer(id, { ok: true, bytes: frame.length });
      return;
    }
    case "flip":
      armed(
        id,
        (done) => {
          flips[to] = { at: command.at ?? [], done };
        },
        () => delete flips[to],
      );
      return;
    case "inject":
      inject(to, Buffer.from(command.hex ?? "", "hex"));
      answer(id, { ok: true });
      return;
    case "swap":
      armed(
        id,
        (done) => {
          swaps[to] = { done };
        },
        () => delete swaps[to],
      );
      return;
    case "hold":
      armed(
        id,
        (done) => {
          holds[to] = { passed: 0, frames: command.frames ?? 0, done };
        },
        () => delete holds[to],
        command.timeoutMs,
      );
      return;
    case "substituteHello":
      armed(
        id,
        (done) => {
          helloSwap = { index: command.index ?? 0, done };
        },
        () => {
          helloSwap = undefined;
        },
      );
      return;
    case "close": {
      const pair = current;
      if (!pair) throw new Error("no connection");
      pair.laptop.close(command.code);
      pair.page.close(command.code);
      answer(id, { ok: true });
      return;
    }
    default:
      throw new Error(`unknown command ${command.cmd}`);
  }
}

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  let command: Command | undefined;
  try {
    command = JSON.parse(line) as Command;
    run(command);
  } catch (error) {
    answer(command?.id ?? -1, { ok: false, error: String(error) });
  }
});
lines.on("close", () => {
  for (const client of wss.clients) client.terminate();
  current?.laptop.terminate();
  server.close();
  process.exit(0);
});

server.listen(config.port, config.host, () => {
  process.stdout.write(`${JSON.stringify({ event: "listening", host: config.host, port: config.port })}\n`);
});
