// One end of the bare relay ceiling: a minimal stand-in for the laptop or the exit, so the phone's
// real relay (the built PWA in Chromium) is measured alone. It serves wss (and, as the exit, the
// built PWA, so the page's origin is this server's as it is the exit's in real use), answers the
// phone's heartbeat PINGs for its leg, counts the DATA it receives, and on command sends pre-built
// DATA frames as fast as its socket drains. No TUN, no handshake, no parsing of packets.
//
//   node --import tsx bench/relay-endpoint.ts --role laptop|exit --host H --port P \
//        --cert PEM --key PEM [--static DIR]
//
// Runs inside a namespace, driven by the bench over stdin/stdout, one JSON object per line:
//   in:  {"cmd":"send","packets":32,"packetBytes":1400}   start sending on the newest connection
//        {"cmd":"stop"}                                   stop sending
//        {"cmd":"count"}                                  report what was received so far
//   out: {"event":"listening"} {"event":"connected","encoding":"binary"} {"event":"closed"}
//        {"event":"count","bytes":N,"packets":N,"messages":N,"atMs":T}
import { readFileSync, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:https";
import { extname, join, normalize } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { type RawData, type WebSocket, WebSocketServer } from "ws";
import { decodeFrame, encodeData, encodeFrame } from "../protocol/codec.js";
import {
  ENCODING_PARAM,
  type Encoding,
  fromMessage,
  parseEncoding,
  toMessage,
} from "../protocol/encoding.js";
import { FrameType, Hop } from "../protocol/frames.js";

/**
 * Bytes the sender lets its socket hold unsent: enough to keep the TCP pipe full, small enough
 * that the phone's heartbeat PONGs are not stuck behind seconds of data.
 */
const SEND_WINDOW_BYTES = 1024 * 1024;

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".css": "text/css",
  ".json": "application/json",
  ".webmanifest": "application/manifest+json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain",
};

const { values } = parseArgs({
  options: {
    role: { type: "string" },
    host: { type: "string" },
    port: { type: "string" },
    cert: { type: "string" },
    key: { type: "string" },
    static: { type: "string" },
  },
});
const role = values.role === "exit" ? "exit" : "laptop";
/** The phone's own heartbeat PINGs on this leg carry this hop; this end answers them. */
const ownHop = role === "exit" ? Hop.EXIT_LEG : Hop.LAPTOP_LEG;

const say = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);

function serveStatic(root: string | undefined, req: IncomingMessage, res: ServerResponse): void {
  if (root === undefined) {
    res.writeHead(404).end();
    return;
  }
  const path = decodeURIComponent(new URL(req.url ?? "/", "https://x").pathname);
  const relative = normalize(path === "/" ? "/index.html" : path).replace(/^(\.\.[/\\])+/, "");
  let file = join(root, relative);
  try {
    if (!statSync(file).isFile()) file = join(root, "index.html");
  } catch {
    file = join(root, "index.html");
  }
  res.writeHead(200, {
    "content-type": CONTENT_TYPES[extname(file)] ?? "application/octet-stream",
    "cache-control": "no-store",
  });
  res.end(readFileSync(file));
}

const server = createServer(
  { cert: readFileSync(values.cert ?? ""), key: readFileSync(values.key ?? "") },
  (req, res) => serveStatic(values.static, req, res),
);
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 1024 * 1024 });

interface Peer {
  socket: WebSocket;
  encoding: Encoding;
}

let current: Peer | undefined;
const received = { bytes: 0, packets: 0, messages: 0 };
let sending: { message: Uint8Array | string; bytes: number } | undefined;
let unsent = 0;

wss.on("connection", (socket, req) => {
  const query = new URL(req.url ?? "/", "https://x").searchParams;
  const peer: Peer = { socket, encoding: parseEncoding(query.get(ENCODING_PARAM)) ?? "binary" };
  current?.socket.terminate();
  current = peer;
  unsent = 0;
  socket.on("message", (data, isBinary) => onMessage(peer, data, isBinary));
  socket.on("close", () => {
    if (current === peer) current = undefined;
    say({ event: "closed" });
  });
  socket.on("error", () => undefined);
  say({ event: "connected", encoding: peer.encoding });
  pump();
});

function onMessage(peer: Peer, data: RawData, isBinary: boolean): void {
  const bytes = fromMessage(isBinary ? (data as Buffer) : data.toString());
  if (bytes[0] === FrameType.DATA) {
    received.messages++;
    received.bytes += bytes.length;
    received.packets += (bytes[2]! << 8) | bytes[3]!;
    return;
  }
  let frame: ReturnType<typeof decodeFrame>;
  try {
    frame = decodeFrame(bytes);
  } catch {
    return;
  }
  if (frame?.type === FrameType.PING && frame.hop === ownHop) {
    const pong = encodeFrame({ type: FrameType.PONG, hop: frame.hop, id: frame.id, sentAt: frame.sentAt });
    peer.socket.send(toMessage(pong, peer.encoding));
  }
}

/** Keeps up to SEND_WINDOW_BYTES queued on the socket; refilled as each send is flushed. */
function pump(): void {
  const peer = current;
  if (!sending || !peer || peer.socket.readyState !== peer.socket.OPEN) return;
  const { message, bytes } = sending;
  while (unsent + bytes <= SEND_WINDOW_BYTES || unsent === 0) {
    unsent += bytes;
    peer.socket.send(message, { binary: typeof message !== "string" }, () => {
      if (current !== peer) return;
      unsent -= bytes;
      if (unsent <= SEND_WINDOW_BYTES / 2) setImmediate(pump);
    });
    if (!sending) break;
  }
}

function buildMessage(packets: number, packetBytes: number, encoding: Encoding): Uint8Array | string {
  const list = Array.from({ length: packets }, (_, i) => {
    const packet = new Uint8Array(packetBytes);
    packet[0] = 0x45; // looks like IPv4 to anyone peeking; nobody on this path parses it
    packet[2] = packetBytes >> 8;
    packet[3] = packetBytes & 0xff;
    packet[packetBytes - 1] = i & 0xff;
    return packet;
  });
  return toMessage(encodeData(list), encoding);
}

createInterface({ input: process.stdin }).on("line", (line) => {
  let command: { cmd?: string; packets?: number; packetBytes?: number };
  try {
    command = JSON.parse(line) as typeof command;
  } catch {
    return;
  }
  if (command.cmd === "send") {
    const message = buildMessage(
      command.packets ?? 1,
      command.packetBytes ?? 1400,
      current?.encoding ?? "binary",
    );
    sending = { message, bytes: typeof message === "string" ? message.length : message.byteLength };
    pump();
  } else if (command.cmd === "stop") {
    sending = undefined;
  } else if (command.cmd === "count") {
    say({ event: "count", ...received, atMs: performance.now() });
  }
});
process.stdin.on("end", () => process.exit(0));

server.listen(Number(values.port), values.host, () => say({ event: "listening" }));
