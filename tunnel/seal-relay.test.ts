import { afterEach, describe, expect, it } from "vitest";
import type { RunningExit } from "../exit/exit.js";
import { LaptopTunnel, type TunnelError } from "../laptop/tunnel.js";
import { parseClientKey } from "../protocol/client-key.js";
import { encodeFrame } from "../protocol/codec.js";
import { ErrorCodes } from "../protocol/errors.js";
import { FrameType, type WelcomeFrame } from "../protocol/frames.js";
import { parseIpv4 } from "../protocol/ip.js";
import {
  type MemoryTransport,
  type Message,
  memoryDrained,
  memoryTransportPair,
} from "../protocol/transport.js";
import { NoiseLaptop } from "../testing/noise-laptop.js";
import { startTestExit } from "../testing/test-exit.js";
import { until } from "../testing/until.js";
import { createFakeTun } from "../tun/fake.js";
import { challengeFrame, newNonce } from "./handshake.js";
import { decodeHello, ResponderHandshake } from "./noise-messages.js";
import { REPLAY_WINDOW_FRAMES } from "./replay-window.js";
import { isSealed } from "./seal.js";
import { LegSeal } from "./seal-leg.js";

const MARKER = Buffer.from("tether-marker-7f3a9c-the-relay-must-never-read-this");

function udp(source: string, destination: string, payload: Uint8Array = new Uint8Array(8)): Uint8Array {
  const packet = new Uint8Array(28 + payload.length);
  packet[0] = 0x45;
  packet[2] = packet.length >> 8;
  packet[3] = packet.length & 255;
  packet[8] = 64;
  packet[9] = 17;
  new DataView(packet.buffer).setUint32(12, parseIpv4(source));
  new DataView(packet.buffer).setUint32(16, parseIpv4(destination));
  packet.set(payload, 28);
  return packet;
}

/** What passes the relay, each way; `hold` keeps a direction's messages back until released. */
interface Wiretap {
  up: Uint8Array[];
  down: Uint8Array[];
  holdUp: boolean;
  holdDown: boolean;
  held: Message[];
}

/**
 * The hostile phone: forwards every message (binary frames) and keeps a copy; its own two sides
 * let the test inject toward either end.
 */
function hostileRelay() {
  const [toLaptop, laptopLeg] = memoryTransportPair();
  let [toExit, exitLeg] = memoryTransportPair();
  const tap: Wiretap = { up: [], down: [], holdUp: false, holdDown: false, held: [] };
  const join = (exitSide: MemoryTransport) => {
    exitSide.onMessage((message) => {
      tap.down.push(new Uint8Array(message as Uint8Array));
      if (tap.holdDown) tap.held.push(message);
      else if (toLaptop.open) toLaptop.send(message);
    });
  };
  toLaptop.onMessage((message) => {
    tap.up.push(new Uint8Array(message as Uint8Array));
    if (tap.holdUp) tap.held.push(message);
    else if (toExit.open) toExit.send(message);
  });
  toLaptop.onClose(() => toExit.close(1000, ""));
  join(toExit);
  return {
    tap,
    laptopLeg,
    get exitLeg() {
      return exitLeg;
    },
    get toLaptop() {
      return toLaptop;
    },
    get toExit() {
      return toExit;
    },
    redialExit() {
      toExit.terminate();
      [toExit, exitLeg] = memoryTransportPair();
      join(toExit);
      return exitLeg;
    },
    drained: () => memoryDrained(toLaptop, laptopLeg, toExit, exitLeg),
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function chain() {
  const { exit, tun: exitTun, key } = await startTestExit(cleanups);
  const laptopTun = createFakeTun("laptop-fake");
  const fatal: TunnelError[] = [];
  const tunnel = new LaptopTunnel(laptopTun, parseClientKey(key), {
    welcome: async () => undefined,
    state: () => undefined,
    fatal: (error) => fatal.push(error),
  });
  cleanups.push(async () => tunnel.close());
  const relay = hostileRelay();
  tunnel.attach(relay.laptopLeg, "binary", "hostile-phone");
  exit.accept(relay.exitLeg, "binary", "127.0.0.1");
  const welcome = await until(() => tunnel.state === "established" && tunnel.welcome, "WELCOME");
  return { exit, exitTun, laptopTun, tunnel, fatal, relay, welcome, key };
}

/** The session still carries a packet each way, end to end. */
async function flows(c: Awaited<ReturnType<typeof chain>>, tag: string): Promise<void> {
  const up = c.exitTun.written.length;
  const down = c.laptopTun.written.length;
  c.laptopTun.inject([udp(c.welcome.address, "198.51.100.2", Buffer.from(`up ${tag}`))]);
  c.exitTun.inject([udp("198.51.100.2", c.welcome.address, Buffer.from(`down ${tag}`))]);
  await until(() => c.exitTun.written.length > up || undefined, `a packet up after ${tag}`);
  await until(() => c.laptopTun.written.length > down || undefined, `a packet down after ${tag}`);
}

async function metric(exit: RunningExit, name: string, label: string): Promise<number> {
  const text = await exit.metrics.registry.getSingleMetricAsString(name);
  const line = text.split("\n").find((l) => l.includes(label));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

const lastData = (messages: Uint8Array[]) => messages.filter((m) => m[0] === FrameType.DATA).at(-1)!;

describe("a hostile relay between the laptop and the exit", () => {
  it("reads nothing: a marker sent both ways, the addresses and the resume token never appear in a relayed message", async () => {
    const c = await chain();
    c.laptopTun.inject([udp(c.welcome.address, "198.51.100.2", MARKER)]);
    c.exitTun.inject([udp("198.51.100.2", c.welcome.address, MARKER)]);
    await until(() => c.exitTun.written.length === 1 || undefined, "the marker at the exit");
    await until(() => c.laptopTun.written.length === 1 || undefined, "the marker at the laptop");
    expect(Buffer.from(c.exitTun.written[0]!).includes(MARKER)).toBe(true);
    const secrets: [string, Uint8Array][] = [
      ["marker", MARKER],
      ["resume token", c.welcome.resumeToken],
      ["session id", c.welcome.sessionId],
      ["laptop address", Buffer.from(c.welcome.address.split(".").map(Number))],
    ];
    for (const message of [...c.relay.tap.up, ...c.relay.tap.down]) {
      for (const [what, secret] of secrets) {
        expect(Buffer.from(message).includes(Buffer.from(secret)), `${what} in a relayed message`).toBe(
          false,
        );
      }
    }
    // What the relay does see: a clear handshake, then sealed frames only (and its own leg pings).
    const types = c.relay.tap.down.map((m) => `${m[0]}${isSealed(m) ? "s" : ""}`);
    expect(types.slice(0, 3)).toEqual(["1", "8", "3s"]); // CHALLENGE, RESPONSE, sealed WELCOME
    expect(c.relay.tap.up[0]![0]).toBe(FrameType.HELLO);
  });

  it("replays a captured frame: refused as replayed, counted, no packet twice", async () => {
    const c = await chain();
    await flows(c, "capture");
    const captured = lastData(c.relay.tap.up);
    const before = c.exitTun.written.length;
    c.relay.toExit.send(captured);
    c.relay.toLaptop.send(lastData(c.relay.tap.down));
    await c.relay.drained();
    expect(c.exitTun.written.length).toBe(before);
    expect(await metric(c.exit, "tether_exit_frames_dropped_total", 'reason="replayed"')).toBe(1);
    expect(c.tunnel.legDrops?.replayed).toBe(1);
    await flows(c, "replay");
  });

  it("flips bits: refused as forged, counted, both ways; the frame as sent still opens", async () => {
    const c = await chain();
    c.relay.tap.holdUp = true;
    c.relay.tap.holdDown = true;
    c.laptopTun.inject([udp(c.welcome.address, "198.51.100.2", MARKER)]);
    c.exitTun.inject([udp("198.51.100.2", c.welcome.address, MARKER)]);
    await c.relay.drained();
    const [up, down] = c.relay.tap.held.splice(0) as [Uint8Array, Uint8Array];
    c.relay.tap.holdUp = false;
    c.relay.tap.holdDown = false;
    // Header (flags), counter, ciphertext, tag: any one bit changed fails the tag.
    for (const at of [1, 9, 20, up.length - 1]) {
      const forgedUp = Buffer.from(up);
      forgedUp[at]! ^= 0x04;
      c.relay.toExit.send(forgedUp);
      const forgedDown = Buffer.from(down);
      forgedDown[Math.min(at, down.length - 1)]! ^= 0x04;
      c.relay.toLaptop.send(forgedDown);
    }
    await c.relay.drained();
    expect(c.exitTun.written).toHaveLength(0);
    expect(c.laptopTun.written).toHaveLength(0);
    expect(await metric(c.exit, "tether_exit_frames_dropped_total", 'reason="forged"')).toBe(4);
    expect(c.tunnel.legDrops?.forged).toBe(4);
    c.relay.toExit.send(up);
    c.relay.toLaptop.send(down);
    await until(() => c.exitTun.written.length === 1 || undefined, "the frame as sent, at the exit");
    await until(() => c.laptopTun.written.length === 1 || undefined, "the frame as sent, at the laptop");
    await flows(c, "bit flips");
  });

  it("reorders: within the window both frames arrive, beyond it the late one is refused as too_old", async () => {
    const c = await chain();
    c.relay.tap.holdUp = true;
    c.laptopTun.inject([udp(c.welcome.address, "198.51.100.2", Buffer.from("first"))]);
    c.laptopTun.inject([udp(c.welcome.address, "198.51.100.2", Buffer.from("second"))]);
    await c.relay.drained();
    const [first, second] = c.relay.tap.held.splice(0);
    c.relay.tap.holdUp = false;
    c.relay.toExit.send(second!);
    c.relay.toExit.send(first!);
    await until(() => c.exitTun.written.length === 2 || undefined, "both reordered packets");
    // One frame held back while the window moves past it.
    c.relay.tap.holdUp = true;
    c.laptopTun.inject([udp(c.welcome.address, "198.51.100.2", Buffer.from("late"))]);
    await c.relay.drained();
    const late = c.relay.tap.held.splice(0)[0]!;
    c.relay.tap.holdUp = false;
    // More than a window of frames, in steps the flow queue drains between (what it drops for
    // delay is never sealed, so takes no counter: only delivered frames move the window).
    for (let i = 0; i < REPLAY_WINDOW_FRAMES + 64; i++) {
      c.laptopTun.inject([udp(c.welcome.address, "198.51.100.2")]);
      if (i % 32 === 31) await c.relay.drained();
    }
    await c.relay.drained();
    const delivered = c.exitTun.written.length;
    expect(delivered).toBeGreaterThan(2 + REPLAY_WINDOW_FRAMES);
    c.relay.toExit.send(late);
    await c.relay.drained();
    expect(c.exitTun.written.length).toBe(delivered);
    expect(await metric(c.exit, "tether_exit_frames_dropped_total", 'reason="too_old"')).toBe(1);
    await flows(c, "reordering");
  });

  it("injects DATA with a forged source (clear, as it must: it has no key): refused as unsealed both ways", async () => {
    const c = await chain();
    c.relay.toExit.send(
      encodeFrame({ type: FrameType.DATA, packets: [udp(c.welcome.address, "198.51.100.2")] }),
    );
    c.relay.toExit.send(encodeFrame({ type: FrameType.DATA, packets: [udp("10.77.0.99", "198.51.100.2")] }));
    c.relay.toLaptop.send(
      encodeFrame({ type: FrameType.DATA, packets: [udp("198.51.100.7", c.welcome.address)] }),
    );
    await c.relay.drained();
    expect(c.exitTun.written).toHaveLength(0);
    expect(c.laptopTun.written).toHaveLength(0);
    expect(await metric(c.exit, "tether_exit_frames_dropped_total", 'reason="unsealed"')).toBe(2);
    expect(c.tunnel.legDrops?.unsealed).toBe(1);
    await flows(c, "injection");
  });

  it("closes with 4401, as a CLOSE frame and as the leg's close code: never fatal; the laptop resumes the same session", async () => {
    const c = await chain();
    const forged = encodeFrame({
      type: FrameType.CLOSE,
      code: ErrorCodes.AUTH_FAILED.close,
      reason: "AUTH_FAILED",
    });
    c.relay.toLaptop.send(forged);
    await c.relay.drained();
    expect(c.tunnel.legDrops?.unsealed).toBe(1);
    await flows(c, "a forged CLOSE");
    c.relay.toLaptop.close(ErrorCodes.AUTH_FAILED.close, "AUTH_FAILED");
    await until(() => c.tunnel.state === "waiting" || undefined, "the laptop to lose its relay");
    expect(c.fatal).toEqual([]);
    // The phone comes back: same session, same address, flows intact.
    const again = hostileRelay();
    await until(() => c.exit.sessions.attached === 0 || undefined, "the exit to see the leg go");
    c.tunnel.attach(again.laptopLeg, "binary", "hostile-phone");
    c.exit.accept(again.exitLeg, "binary", "127.0.0.1");
    const second = await until(
      () => c.tunnel.state === "established" && c.tunnel.welcome !== c.welcome && c.tunnel.welcome,
      "a second WELCOME",
    );
    expect(second.resumed).toBe(true);
    expect(second.address).toBe(c.welcome.address);
    expect(c.fatal).toEqual([]);
    // The new relay's leg starts its own count; the laptop's counters keep every relay's.
    expect(c.tunnel.legDrops?.unsealed).toBe(0);
    expect(c.tunnel.counters.legDrops.unsealed).toBe(1);
  });

  it("resumes with what it saw: a HELLO replayed on another connection, a token without the session's secret; neither gets the session", async () => {
    const c = await chain();
    const hello = c.relay.tap.up[0]!;
    // (1) The laptop's own HELLO, replayed on a new exit connection: its prologue names another nonce.
    const [phone, exitSide] = memoryTransportPair();
    const answers: Uint8Array[] = [];
    phone.onMessage((m) => answers.push(new Uint8Array(m as Uint8Array)));
    c.exit.accept(exitSide, "binary", "127.0.0.2");
    await until(() => answers.length === 1 || undefined, "a CHALLENGE");
    phone.send(hello);
    await until(() => phone.closed, "the refusal");
    expect(phone.closed?.code).toBe(ErrorCodes.AUTH_FAILED.close);
    expect(await metric(c.exit, "tether_exit_handshakes_total", 'result="auth_failed"')).toBe(1);
    // (2) Someone holding the client key and the session's resume token (say it leaked), without
    // the resume secret of the handshake that made the session: a new session, not this one.
    const [phone2, exitSide2] = memoryTransportPair();
    const intruder = new NoiseLaptop((bytes) => phone2.send(bytes));
    phone2.onMessage((m) => intruder.receive(new Uint8Array(m as Uint8Array)));
    c.exit.accept(exitSide2, "binary", "127.0.0.3");
    await until(() => intruder.challenge, "a CHALLENGE");
    intruder.hello(c.key, { resume: { token: c.welcome.resumeToken, secret: new Uint8Array(32).fill(7) } });
    const welcome = (await until(
      () => intruder.frames.find((f) => f.type === FrameType.WELCOME),
      "the intruder's WELCOME",
    )) as WelcomeFrame;
    expect(welcome.resumed).toBe(false);
    expect(welcome.address).not.toBe(c.welcome.address);
    expect(await metric(c.exit, "tether_exit_handshakes_total", 'result="resume_refused"')).toBe(1);
    phone2.close(1000, "");
    await flows(c, "the resume attempts");
  });

  it("does not let a second relay take over a working one: RELAY_BUSY, counted", async () => {
    const c = await chain();
    const [second, laptopSide] = memoryTransportPair();
    c.tunnel.attach(laptopSide, "binary", "second-phone");
    await until(() => second.closed, "the second relay's refusal");
    expect(second.closed?.code).toBe(ErrorCodes.RELAY_BUSY.close);
    expect(c.tunnel.counters.relaysBusy).toBe(1);
    await flows(c, "a second relay");
  });

  it("cannot make the laptop take a packet for another address: only its tunnel address reaches its TUN", async () => {
    // Even from the exit itself (here the test, holding the key), through a sealed DATA.
    const laptopTun = createFakeTun("laptop-fake");
    const secret = Buffer.alloc(32, 5);
    const tunnel = new LaptopTunnel(laptopTun, parseClientKey(`laptop-1:${secret.toString("base64url")}`), {
      welcome: async () => undefined,
      state: () => undefined,
      fatal: () => undefined,
    });
    cleanups.push(async () => tunnel.close());
    const [phone, laptopSide] = memoryTransportPair();
    const heard: Uint8Array[] = [];
    phone.onMessage((m) => heard.push(new Uint8Array(m as Uint8Array)));
    tunnel.attach(laptopSide, "binary", "test");
    const challenge = encodeFrame(challengeFrame(newNonce()));
    phone.send(challenge);
    await memoryDrained(phone, laptopSide);
    const exit = new ResponderHandshake(challenge, decodeHello(heard[0]!), secret);
    expect(exit.open().ok).toBe(true);
    const { response, keys } = exit.respond(2);
    const seal = new LegSeal("exit");
    seal.install(keys);
    phone.send(response);
    const address = "10.77.0.2";
    phone.send(
      seal.outbound(
        encodeFrame({
          type: FrameType.WELCOME,
          version: 2,
          sessionId: new Uint8Array(16),
          resumeToken: new Uint8Array(32),
          address,
          prefixLength: 32,
          mtu: 1400,
          dns: [],
          keepaliveSeconds: 15,
          resumed: false,
        }),
      ),
    );
    await until(() => tunnel.state === "established" || undefined, "established");
    const ipv6 = new Uint8Array(40); // to ::, and this WELCOME gave the laptop no IPv6 address
    ipv6[0] = 0x60;
    const notIp = new Uint8Array(40);
    notIp[0] = 0x50;
    const packets = [udp("198.51.100.2", address), udp("198.51.100.2", "10.77.0.99"), ipv6, notIp];
    phone.send(seal.outbound(encodeFrame({ type: FrameType.DATA, packets })));
    await memoryDrained(phone, laptopSide);
    expect(laptopTun.written.map((p) => Buffer.from(p).toString("hex"))).toEqual([
      Buffer.from(packets[0]!).toString("hex"),
    ]);
    expect(tunnel.counters.drops.wrong_destination).toBe(2);
    expect(tunnel.counters.drops.not_ip).toBe(1);
  });
});
