// A hostile (and, for comparison, an honest) client of a running exit or laptop, run inside a
// namespace by the e2e tests: `node --import tsx e2e/hostile-client.ts COMMAND JSON-ARGS`.
// It prints one JSON line: what each attempt got back (a close code, an HTTP status, a frame).
//
//   handshake {url, key, bind?}                  an honest laptop's handshake: WELCOME or close code
//   send {url, key, to: [ADDRESS...], bind?}     a session that sends one UDP packet to each address
//   exit {url, wrongKey, key, bind}              malformed frames, wrong versions, slow and wrong
//                                                handshakes, egress and spoofing after a good one
//   laptop-pairing {url, secret, origin, bind?}  wrong secret, wrong origin, wrong path
//   laptop-frames {url, secret, origin}          malformed frames at the laptop, as a second paired
//                                                phone while the real one relays
//   ping-flood {url, bind, seconds}              one socket that never reads, streaming the phone's
//                                                leg PINGs for at most `seconds`
//   slot-hold {url, bind, holders, holdMs, seconds}  sockets from one address that never say HELLO,
//                                                each closed just before the deadline and redialed
//
// Every wait is bounded (ATTEMPT_TIMEOUT_MS); every socket is closed before the script exits.

import { connect as tcpConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { WebSocket } from "ws";
import { encodeFrame } from "../protocol/codec.js";
import { fromMessage } from "../protocol/encoding.js";
import { type Frame, FrameType, Hop } from "../protocol/frames.js";
import { HEADER_BYTES, MAX_FRAME_BYTES } from "../protocol/limits.js";
import { NoiseLaptop } from "../testing/noise-laptop.js";
import { firstAnswerLine } from "./raw-request.js";
import { socketEnd } from "./socket-end.js";

/** Longest any one attempt may take, ms (slow handshakes wait for the exit's timeout). */
const ATTEMPT_TIMEOUT_MS = 20_000;

interface Outcome {
  /** Close code the peer closed with, if it did. */
  close?: number;
  /** HTTP status of a refused upgrade. */
  status?: number;
  /** Types of the frames received, in order. */
  frames: number[];
  /** The address of a WELCOME. */
  address?: string;
  error?: string;
}

interface Dial {
  socket: WebSocket;
  /** The laptop's side of protocol v2: the handshake, then sealed frames. */
  laptop: NoiseLaptop;
  frames: Frame[];
  done: Promise<Outcome>;
}

function dial(url: string, options: { bind?: string; origin?: string } = {}): Dial {
  const socket = new WebSocket(url, {
    rejectUnauthorized: false,
    ...(options.bind ? { localAddress: options.bind } : {}),
    ...(options.origin ? { origin: options.origin } : {}),
    maxPayload: 2 * MAX_FRAME_BYTES,
  });
  const laptop = new NoiseLaptop((bytes) => socket.send(bytes));
  const frames = laptop.frames;
  const outcome: Outcome = { frames: [] };
  socket.on("message", (data, isBinary) => {
    try {
      const before = frames.length;
      laptop.receive(fromMessage(isBinary ? (data as Buffer) : data.toString()));
      for (const frame of frames.slice(before)) {
        outcome.frames.push(frame.type);
        if (frame.type === FrameType.WELCOME) outcome.address = frame.address;
      }
    } catch (error) {
      outcome.error = String(error);
    }
  });
  const done = socketEnd(socket, outcome, ATTEMPT_TIMEOUT_MS);
  return { socket, laptop, frames, done };
}

function opened(d: Dial): Promise<boolean> {
  if (d.socket.readyState === WebSocket.OPEN) return Promise.resolve(true);
  return new Promise((resolve) => {
    d.socket.once("open", () => resolve(true));
    d.socket.once("close", () => resolve(false));
  });
}

async function frame(d: Dial, type: number): Promise<Frame | undefined> {
  const deadline = Date.now() + ATTEMPT_TIMEOUT_MS;
  while (Date.now() < deadline && d.socket.readyState <= WebSocket.OPEN) {
    const found = d.frames.find((f) => f.type === type);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return d.frames.find((f) => f.type === type);
}

/** Sends `message` once the socket is open; resolves with how it ended. */
async function sendAndWait(d: Dial, ...messages: (Uint8Array | string)[]): Promise<Outcome> {
  if (await opened(d)) for (const message of messages) d.socket.send(message);
  return d.done;
}

function header(type: number, count: number, payloadLength: number, payload = new Uint8Array(0)): Uint8Array {
  const bytes = new Uint8Array(HEADER_BYTES + payload.length);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, type);
  view.setUint16(2, count);
  view.setUint32(4, payloadLength);
  bytes.set(payload, HEADER_BYTES);
  return bytes;
}

/** Answers the CHALLENGE with a v2 HELLO (a Noise message 1) for `key`, announcing `versions`. */
function hello(d: Dial, key: string, versions?: [number, number]): void {
  d.laptop.hello(key, versions ? { versionMin: versions[0], versionMax: versions[1] } : {});
}

/** An honest handshake; resolves with the open dial (WELCOME received) or its outcome. */
async function handshake(url: string, key: string, bind?: string): Promise<Dial> {
  const d = dial(url, bind ? { bind } : {});
  const challenge = await frame(d, FrameType.CHALLENGE);
  if (challenge?.type === FrameType.CHALLENGE) hello(d, key);
  await frame(d, FrameType.WELCOME);
  return d;
}

function ipv4Packet(source: string, destination: string): Uint8Array {
  const packet = new Uint8Array(28);
  packet[0] = 0x45;
  packet[3] = 28;
  packet[8] = 64;
  packet[9] = 17;
  packet.set(source.split(".").map(Number), 12);
  packet.set(destination.split(".").map(Number), 16);
  packet[21] = 9; // UDP port 9 (discard) to port 9
  packet[23] = 9;
  packet[25] = 8; // UDP length; checksum 0: none
  // The header checksum, or the kernel drops the packet before any hook sees it.
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += (packet[i]! << 8) | packet[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const checksum = ~sum & 0xffff;
  packet[10] = checksum >> 8;
  packet[11] = checksum & 0xff;
  return packet;
}

type Args = Record<string, string>;

/**
 * A connection that never becomes a request: `tls`, TCP without a TLS handshake; `headers`, TLS
 * and then half a request header (slowloris). Resolves with how long the server let it live.
 */
function slowConnection(
  url: string,
  bind: string,
  mode: "tls" | "headers",
): Promise<{ closedAfterMs: number; answer: string }> {
  const { hostname: host, port } = new URL(url.replace(/^wss:/, "https:"));
  const started = Date.now();
  return new Promise((resolve) => {
    let answer = "";
    const tcp = tcpConnect({ host, port: Number(port), localAddress: bind });
    const socket =
      mode === "tls"
        ? tcp
        : tlsConnect({ socket: tcp, rejectUnauthorized: false }, () =>
            socket.write("GET / HTTP/1.1\r\nHost: exit\r\nX-Slow: "),
          );
    const timer = setTimeout(() => socket.destroy(), ATTEMPT_TIMEOUT_MS);
    socket.on("data", (chunk: Buffer) => {
      answer += chunk.toString("latin1").split("\r\n")[0];
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ closedAfterMs: Date.now() - started, answer });
    });
  });
}

const UPGRADE_HEADERS =
  "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

/** One raw HTTP/1.1 request over TLS; resolves with the status line's code (undefined: none). */
async function rawRequest(
  url: string,
  bind: string | undefined,
  request: string,
): Promise<number | undefined> {
  const line = await firstAnswerLine(url, bind, request, ATTEMPT_TIMEOUT_MS);
  const status = /^HTTP\/1\.1 (\d{3})/.exec(line)?.[1];
  return status === undefined ? undefined : Number(status);
}

/** The request targets that stopped both servers before protocol/request-target.ts: `//`, plain and as an upgrade. */
async function doubleSlash(
  url: string,
  bind: string | undefined,
): Promise<{ plain?: number; upgrade?: number }> {
  const plain = await rawRequest(url, bind, "GET // HTTP/1.1\r\nHost: x\r\n\r\n");
  const upgrade = await rawRequest(url, bind, `GET //?x HTTP/1.1\r\nHost: x\r\n${UPGRADE_HEADERS}\r\n`);
  return { ...(plain === undefined ? {} : { plain }), ...(upgrade === undefined ? {} : { upgrade }) };
}

async function exitAttacks(a: Args): Promise<Record<string, unknown>> {
  const url = `${a.url}/tunnel`;
  const results: Record<string, unknown> = {};
  // Slow connections run alongside everything below: they end when the exit cuts them off.
  const slowTls = slowConnection(a.url!, a.slowBind!, "tls");
  const slowHeaders = slowConnection(a.url!, a.slowBind!, "headers");
  const at = (source: string) => ({ bind: source });
  const malformed = a.bind!;

  results.doubleSlash = await doubleSlash(a.url!, malformed);
  // A page of another site, making its visitor's browser a relay: refused before the WebSocket.
  results.foreignOrigin = await dial(url, { ...at(malformed), origin: "https://evil.example" }).done;
  results.truncatedHeader = await sendAndWait(dial(url, at(malformed)), new Uint8Array([4, 0, 0]));
  results.lengthPastLimit = await sendAndWait(
    dial(url, at(malformed)),
    header(FrameType.DATA, 1, 0xffff_ffff),
  );
  results.frameTooLarge = await sendAndWait(
    dial(url, at(malformed)),
    header(FrameType.DATA, 1, MAX_FRAME_BYTES, new Uint8Array(MAX_FRAME_BYTES)),
  );
  results.hugeMessage = await sendAndWait(dial(url, at(malformed)), new Uint8Array(8 * 1024 * 1024));
  // Inner lengths that lie: the second packet says 1000 bytes, 4 are there.
  const lying = new Uint8Array([0, 4, 0x45, 0, 0, 0, 0x03, 0xe8, 1, 2, 3, 4]);
  results.lyingBatch = await sendAndWait(
    dial(url, at(malformed)),
    header(FrameType.DATA, 2, lying.length, lying),
  );
  results.badBase64 = await sendAndWait(dial(`${url}?encoding=base64`, at(malformed)), "!!!!not*base64");
  {
    // An unknown type is skipped, and before the handshake's keys the phone's ping gets no answer:
    // the same socket then completes its handshake, and from then on the ping is answered.
    const d = dial(url, at(malformed));
    const challenge = await frame(d, FrameType.CHALLENGE);
    d.socket.send(header(99, 0, 4, new Uint8Array(4)));
    d.socket.send(encodeFrame({ type: FrameType.PING, hop: Hop.EXIT_LEG, id: 7, sentAt: 1 }));
    if (challenge?.type === FrameType.CHALLENGE) hello(d, a.key!);
    const welcome = await frame(d, FrameType.WELCOME);
    const pongsBeforeKeys = d.frames.filter((f) => f.type === FrameType.PONG).length;
    d.socket.send(encodeFrame({ type: FrameType.PING, hop: Hop.EXIT_LEG, id: 8, sentAt: 2 }));
    const pong = await frame(d, FrameType.PONG);
    d.socket.close(1000);
    results.unknownType = {
      welcomed: welcome?.type === FrameType.WELCOME,
      pongsBeforeKeys,
      answeredPingAfterKeys: pong?.type === FrameType.PONG && pong.id === 8,
      ...(await d.done),
    };
  }
  {
    const d = dial(url, at(malformed));
    const challenge = await frame(d, FrameType.CHALLENGE);
    if (challenge?.type === FrameType.CHALLENGE) hello(d, a.key!, [7, 9]);
    results.wrongVersion = await d.done;
  }

  // Slow handshakes: crowds of sockets that never say HELLO, each from an address of its own. A
  // crowd is open (admitted or refused) before the next one dials, so which limit each meets is
  // certain: its source's handshakes first, then the exit's.
  const crowds: [string, Dial[]][] = [];
  for (const [bind, count] of a.slowCrowds as unknown as [string, number][]) {
    const crowd = Array.from({ length: count }, () => dial(url, at(bind)));
    await Promise.all(crowd.map(opened));
    crowds.push([bind, crowd]);
  }
  results.slowHandshakes = Object.fromEntries(
    await Promise.all(
      crowds.map(async ([bind, crowd]) => [bind, tally(await Promise.all(crowd.map((d) => d.done)))]),
    ),
  );

  // Wrong keys, again and again, from one address.
  const wrong: Outcome[] = [];
  for (let i = 0; i < Number(a.wrongCount ?? 15); i++) {
    const d = dial(url, at(a.wrongBind!));
    const challenge = await frame(d, FrameType.CHALLENGE);
    if (challenge?.type === FrameType.CHALLENGE) hello(d, a.wrongKey!);
    wrong.push(await d.done);
  }
  results.wrongKeys = wrong.map((o) => o.close);

  // With a valid key: packets the egress guard refuses, a spoofed source, then a lying batch.
  {
    const d = await handshake(url, a.key!, a.keyBind);
    const address = d.frames.find((f) => f.type === FrameType.WELCOME);
    if (address?.type === FrameType.WELCOME) {
      const me = address.address;
      d.laptop.sendFrame({
        type: FrameType.DATA,
        packets: [
          ipv4Packet(me, "169.254.169.254"),
          ipv4Packet(me, "10.0.0.1"),
          ipv4Packet(me, "192.168.43.2"),
          ipv4Packet(me, "127.0.0.53"),
          ipv4Packet(me, "198.51.100.1"),
          ipv4Packet(me, "203.0.113.1"),
          ipv4Packet(me, "224.0.0.1"),
          ipv4Packet(me, "255.255.255.255"),
          ipv4Packet("198.51.100.77", "198.51.100.2"),
        ],
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      // Sealed with the session's key (what only a key holder can send): the exit opens it, and
      // its lying inner lengths end the connection with their code. Unsealed it would be dropped.
      d.socket.send(d.laptop.seal.outbound(header(FrameType.DATA, 2, lying.length, lying)));
    }
    results.afterHandshake = {
      address: (address as { address?: string } | undefined)?.address,
      ...(await d.done),
    };
  }
  // Sessions per key: the limit is set low for this run.
  {
    const kept: Dial[] = [];
    const closes: (number | undefined)[] = [];
    for (let i = 0; i < Number(a.perKey ?? 2) + 1; i++) {
      const d = await handshake(url, a.key!, a.keyBind);
      if (d.frames.some((f) => f.type === FrameType.WELCOME)) kept.push(d);
      else closes.push((await d.done).close);
    }
    for (const d of kept) d.socket.close(1000);
    await Promise.all(kept.map((d) => d.done));
    results.sessionsPerKey = { welcomed: kept.length, refused: closes };
  }
  results.slowTls = await slowTls;
  results.slowHeaders = await slowHeaders;
  return results;
}

function tally(outcomes: Outcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) {
    const key = o.status !== undefined ? `http ${o.status}` : `close ${o.close}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

async function laptopPairing(a: Args): Promise<Record<string, unknown>> {
  const relay = `${a.url}/relay`;
  const options = (origin?: string) => ({
    ...(a.bind ? { bind: a.bind } : {}),
    ...(origin ? { origin } : {}),
  });
  return {
    doubleSlash: await doubleSlash(a.url!, a.bind),
    wrongSecret: await dial(`${relay}?secret=not-the-secret`, options(a.origin)).done,
    wrongOrigin: await dial(
      `${relay}?secret=${encodeURIComponent(a.secret!)}`,
      options("https://evil.example"),
    ).done,
    noOrigin: await dial(`${relay}?secret=${encodeURIComponent(a.secret!)}`, options()).done,
    wrongPath: await dial(`${a.url}/tunnel?secret=${encodeURIComponent(a.secret!)}`, options(a.origin)).done,
  };
}

async function laptopFrames(a: Args): Promise<Record<string, unknown>> {
  const relay = `${a.url}/relay?secret=${encodeURIComponent(a.secret!)}`;
  const o = { origin: a.origin! };
  const lying = new Uint8Array([0, 4, 0x45, 0, 0, 0, 0x03, 0xe8, 1, 2, 3, 4]);
  return {
    truncatedHeader: await sendAndWait(dial(relay, o), new Uint8Array([4, 0, 0])),
    lengthPastLimit: await sendAndWait(dial(relay, o), header(FrameType.DATA, 1, 0xffff_ffff)),
    hugeMessage: await sendAndWait(dial(relay, o), new Uint8Array(8 * 1024 * 1024)),
    lyingBatch: await sendAndWait(dial(relay, o), header(FrameType.DATA, 2, lying.length, lying)),
    badBase64: await sendAndWait(dial(`${relay}&encoding=base64`, o), "!!!!not*base64"),
    dataBeforeWelcome: await sendAndWait(
      dial(relay, o),
      encodeFrame({ type: FrameType.DATA, packets: [ipv4Packet("198.51.100.2", "10.77.0.2")] }),
    ),
  };
}

/** Most the flood lets wait in its own socket: it sends as fast as the exit takes, no faster. */
const FLOOD_OWN_BUFFER_BYTES = 4 * 1024 * 1024;
/** PINGs per turn of the event loop. */
const FLOOD_BATCH = 1000;

/**
 * The attack that took the exit from 94 MB to 1.35 GB in 6 s: an unauthenticated socket streaming
 * the phone's leg PINGs (hop 2) and never reading, so that whatever the exit answers piles up in
 * its memory. Resolves with how many PINGs went out and how long the exit kept the socket.
 */
async function pingFlood(a: Args): Promise<Record<string, unknown>> {
  const d = dial(`${a.url}/tunnel`, { bind: a.bind! });
  if (!(await opened(d))) return { opened: false, ...(await d.done) };
  const started = Date.now();
  d.socket.pause(); // never read again
  const ping = encodeFrame({ type: FrameType.PING, hop: Hop.EXIT_LEG, id: 1, sentAt: 0 });
  const deadline = started + Number(a.seconds ?? 6) * 1000;
  let sent = 0;
  while (Date.now() < deadline && d.socket.readyState === WebSocket.OPEN) {
    if (d.socket.bufferedAmount < FLOOD_OWN_BUFFER_BYTES) {
      for (let i = 0; i < FLOOD_BATCH; i++) d.socket.send(ping);
      sent += FLOOD_BATCH;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  const openForMs = Date.now() - started;
  const cutByExit = d.socket.readyState !== WebSocket.OPEN;
  d.socket.terminate();
  const outcome = await d.done;
  const read = (type: number) => outcome.frames.filter((t) => t === type).length;
  return { sent, openForMs, cutByExit, challenges: read(FrameType.CHALLENGE), pongs: read(FrameType.PONG) };
}

/** How long a refused holder waits before it dials again, ms: a flood, but a bounded one. */
const REDIAL_AFTER_REFUSAL_MS = 250;

/**
 * The attack that locked every laptop out before per-source limits: `holders` sockets from one
 * address, each holding a handshake slot without a HELLO until just before the exit's deadline
 * (`holdMs`), closing and redialing, for `seconds`. Resolves with how many slots it held, the most
 * at once, and what the refused dials were closed with.
 */
async function slotHold(a: Args): Promise<Record<string, unknown>> {
  const url = `${a.url}/tunnel`;
  const deadline = Date.now() + Number(a.seconds) * 1000;
  const holdMs = Number(a.holdMs);
  let held = 0;
  let open = 0;
  let mostAtOnce = 0;
  const refused: Record<string, number> = {};
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const holder = async () => {
    while (Date.now() < deadline) {
      const d = dial(url, { bind: a.bind! });
      const challenge = await frame(d, FrameType.CHALLENGE);
      if (challenge?.type === FrameType.CHALLENGE) {
        held++;
        open++;
        mostAtOnce = Math.max(mostAtOnce, open);
        await Promise.race([d.done, sleep(holdMs)]);
        open--;
        d.socket.close(1000);
        await d.done;
      } else {
        const outcome = await d.done;
        const key = `close ${outcome.close}`;
        refused[key] = (refused[key] ?? 0) + 1;
        await sleep(REDIAL_AFTER_REFUSAL_MS);
      }
    }
  };
  await Promise.all(Array.from({ length: Number(a.holders) }, holder));
  return { held, mostAtOnce, refused };
}

async function main(): Promise<void> {
  const [command, json = "{}"] = process.argv.slice(2);
  const args = JSON.parse(json) as Args;
  let result: unknown;
  if (command === "handshake") {
    const d = await handshake(args.url!.replace(/\/?$/, "/tunnel"), args.key!, args.bind);
    const welcomed = d.frames.some((f) => f.type === FrameType.WELCOME);
    if (welcomed) d.socket.close(1000);
    result = { welcomed, ...(await d.done) };
  } else if (command === "send") {
    const d = await handshake(args.url!.replace(/\/?$/, "/tunnel"), args.key!, args.bind);
    const welcome = d.frames.find((f) => f.type === FrameType.WELCOME);
    const to = (args as unknown as { to: string[] }).to;
    if (welcome?.type === FrameType.WELCOME) {
      d.laptop.sendFrame({ type: FrameType.DATA, packets: to.map((t) => ipv4Packet(welcome.address, t)) });
      await new Promise((resolve) => setTimeout(resolve, 300));
      d.socket.close(1000);
    }
    result = {
      address: welcome?.type === FrameType.WELCOME ? welcome.address : undefined,
      ...(await d.done),
    };
  } else if (command === "exit") result = await exitAttacks(args);
  else if (command === "laptop-pairing") result = await laptopPairing(args);
  else if (command === "laptop-frames") result = await laptopFrames(args);
  else if (command === "ping-flood") result = await pingFlood(args);
  else if (command === "slot-hold") result = await slotHold(args);
  else throw new Error(`unknown command ${command}`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`hostile-client: ${error instanceof Error ? error.stack : error}\n`);
    process.exit(1);
  },
);
