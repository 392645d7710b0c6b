// The exit as a stranger and as an operator see it: access limits, revocation, the egress guard,
// the rate limit, logs without secrets, /healthz, SIGHUP's certificate swap, and shutdown. A real
// exit on loopback with a fake TUN; the "laptop" is a bare WebSocket client speaking the protocol.
import { X509Certificate } from "node:crypto";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { connect } from "node:tls";
import pino from "pino";
import { generate } from "selfsigned";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { parseClientKey } from "../protocol/client-key.js";
import { ErrorCodes } from "../protocol/errors.js";
import { type Frame, FrameType, type WelcomeFrame } from "../protocol/frames.js";
import { parseIpv4 } from "../protocol/ip.js";
import { NoiseLaptop } from "../testing/noise-laptop.js";
import { type TestExit as StartedExit, startTestExit } from "../testing/test-exit.js";
import { until } from "../testing/until.js";
import { createFakeTun } from "../tun/fake.js";
import { parseCidrList } from "./egress-guard.js";
import { EXIT_DEFAULTS, type ExitOptions, type RunningExit, startExit } from "./exit.js";
import { addKey, revokeKey } from "./keys.js";
import { EXIT_LIMITS } from "./limits.js";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface TestExit extends StartedExit {
  /** Every log line the exit wrote. */
  logs: string[];
}

async function testExit(options: Partial<Omit<ExitOptions, "tun">> = {}): Promise<TestExit> {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(...chunk.toString().split("\n").filter(Boolean));
      done();
    },
  });
  const started = await startTestExit(cleanups, { logger: pino({ level: "debug" }, sink), ...options });
  return { ...started, logs };
}

/** A laptop talking straight to the exit (no phone in between). */
class Client {
  readonly laptop: NoiseLaptop;
  readonly socket: WebSocket;
  readonly closed: Promise<number>;
  readonly opened: Promise<void>;

  constructor(exit: RunningExit, tls = false) {
    this.socket = new WebSocket(`${tls ? "wss" : "ws"}://127.0.0.1:${exit.port}/tunnel`, {
      rejectUnauthorized: false,
    });
    this.laptop = new NoiseLaptop((bytes) => this.socket.send(bytes));
    this.socket.on("message", (data) => this.laptop.receive(new Uint8Array(data as Buffer)));
    this.closed = new Promise((resolve) => this.socket.once("close", (code) => resolve(code)));
    this.opened = new Promise((resolve, reject) => {
      this.socket.once("open", () => resolve());
      this.socket.once("error", reject);
    });
    cleanups.push(() => this.socket.terminate());
  }

  /** Frames from the exit: clear before the keys, opened after. */
  get frames(): Frame[] {
    return this.laptop.frames;
  }

  async challenge(): Promise<Uint8Array> {
    const frame = await until(() => this.frames.find((f) => f.type === FrameType.CHALLENGE), "CHALLENGE");
    return frame.nonce;
  }

  async hello(key: string): Promise<void> {
    await this.challenge();
    this.laptop.hello(key);
  }

  async welcome(): Promise<WelcomeFrame> {
    return until(() => this.frames.find((f) => f.type === FrameType.WELCOME), "WELCOME");
  }

  send(packets: Uint8Array[]): void {
    this.laptop.sendFrame({ type: FrameType.DATA, packets });
  }
}

async function session(exit: RunningExit, key: string): Promise<{ client: Client; welcome: WelcomeFrame }> {
  const client = new Client(exit);
  await client.hello(key);
  return { client, welcome: await client.welcome() };
}

function udp(source: string, destination: string, bytes = 28): Uint8Array {
  const packet = new Uint8Array(bytes);
  packet[0] = 0x45;
  packet[2] = bytes >> 8;
  packet[3] = bytes & 255;
  packet[8] = 64;
  packet[9] = 17;
  new DataView(packet.buffer).setUint32(12, parseIpv4(source));
  new DataView(packet.buffer).setUint32(16, parseIpv4(destination));
  return packet;
}

async function metricValue(exit: RunningExit, name: string, labels = ""): Promise<number> {
  const text = await exit.metrics.registry.metrics();
  const line = text.split("\n").find((l) => l.startsWith(labels ? `${name}{${labels}}` : `${name} `));
  return line ? Number(line.split(" ").pop()) : 0;
}

const WRONG_KEY = `laptop-1:${Buffer.alloc(32, 7).toString("base64url")}`;

describe("who gets into the exit", () => {
  it("answers wrong keys with AUTH_FAILED until the address's budget is spent, then RATE_LIMITED", async () => {
    const t = await testExit({ limits: { ...EXIT_LIMITS, failedHandshakeBurst: 3 } });
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const client = new Client(t.exit);
      await client.opened;
      if (i < 3) await client.hello(WRONG_KEY);
      codes.push(await client.closed);
    }
    expect(codes).toEqual([4401, 4401, 4401, 4429, 4429]);
    expect(await metricValue(t.exit, "tether_exit_handshakes_total", 'result="auth_failed"')).toBe(3);
    expect(await metricValue(t.exit, "tether_exit_handshakes_total", 'result="rate_limited"')).toBe(2);
  });

  it("counts a message ws refuses itself (past maxPayload, 1009) as a failed handshake", async () => {
    const t = await testExit();
    const client = new Client(t.exit);
    await client.opened;
    client.socket.send(new Uint8Array(2 * 1024 * 1024));
    expect(await client.closed).toBe(1009);
    await until(
      async () =>
        (await metricValue(t.exit, "tether_exit_handshakes_total", 'result="protocol_error"')) === 1,
      "the failed handshake counted",
    );
  });

  it("refuses handshakes past --max-handshakes with EXIT_BUSY, and times out the silent ones", async () => {
    const t = await testExit({ limits: { ...EXIT_LIMITS, maxHandshakes: 2 }, handshakeTimeoutMs: 300 });
    const silent = [new Client(t.exit), new Client(t.exit)];
    await Promise.all(silent.map((c) => c.challenge()));
    const third = new Client(t.exit);
    expect(await third.closed).toBe(ErrorCodes.EXIT_BUSY.close);
    expect(await Promise.all(silent.map((c) => c.closed))).toEqual([4408, 4408]);
    // The slots are free again.
    const { welcome } = await session(t.exit, t.key);
    expect(welcome.address).toMatch(/^10\.77\./);
    expect(await metricValue(t.exit, "tether_exit_handshakes_total", 'result="busy"')).toBe(1);
    expect(await metricValue(t.exit, "tether_exit_handshakes_total", 'result="timeout"')).toBe(2);
  });

  it("gives up a key's oldest detached session for a new one at the per-key limit", async () => {
    const t = await testExit({ limits: { ...EXIT_LIMITS, maxSessionsPerKey: 1 } });
    const first = await session(t.exit, t.key);
    first.client.socket.close(1000);
    await first.client.closed;
    await until(
      () => [...t.exit.sessions.all()].some((s) => s.detachedAt !== undefined) || undefined,
      "detach",
    );
    const { welcome } = await session(t.exit, t.key);
    expect(welcome.address).not.toBe(first.welcome.address);
    expect(t.exit.sessions.size).toBe(1);
  });

  it("refuses a key's session past --max-sessions-per-key with SESSION_LIMIT", async () => {
    const t = await testExit({ limits: { ...EXIT_LIMITS, maxSessionsPerKey: 2 } });
    await session(t.exit, t.key);
    await session(t.exit, t.key);
    const third = new Client(t.exit);
    await third.hello(t.key);
    expect(await third.closed).toBe(ErrorCodes.SESSION_LIMIT.close);
    const other = await addKey(t.keysFile, "laptop-2");
    const { welcome } = await session(t.exit, `${other.name}:${other.key}`);
    expect(welcome.address).toMatch(/^10\.77\./);
  });

  it("refuses a session past --max-sessions with EXIT_BUSY", async () => {
    const t = await testExit({ limits: { ...EXIT_LIMITS, maxSessions: 1 } });
    await session(t.exit, t.key);
    const second = new Client(t.exit);
    await second.hello(t.key);
    expect(await second.closed).toBe(ErrorCodes.EXIT_BUSY.close);
  });

  it("ends a live session with AUTH_FAILED when its key is revoked, and frees its address", async () => {
    const t = await testExit();
    const { client } = await session(t.exit, t.key);
    expect(t.exit.sessions.size).toBe(1);
    await revokeKey(t.keysFile, "laptop-1");
    expect(await client.closed).toBe(ErrorCodes.AUTH_FAILED.close);
    expect(t.exit.sessions.size).toBe(0);
    expect(await metricValue(t.exit, "tether_exit_sessions_revoked_total")).toBe(1);
    const again = new Client(t.exit);
    await again.hello(t.key);
    expect(await again.closed).toBe(ErrorCodes.AUTH_FAILED.close);
  });

  it("refuses to start when the keys file is readable by others", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tether-access-test-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const keysFile = join(dir, "keys.json");
    await addKey(keysFile, "laptop-1");
    await chmod(keysFile, 0o644);
    await expect(
      startExit({
        ...EXIT_DEFAULTS,
        host: "127.0.0.1",
        port: 0,
        keysFile,
        dns: [],
        pwaDir: dir,
        tun: createFakeTun("exit-fake"),
        nat: false,
        logger: pino({ level: "silent" }),
      }),
    ).rejects.toThrow(/chmod 600/);
  });
});

describe("where laptops' packets may go", () => {
  it("refuses private, link-local, loopback, multicast and the exit's own addresses, counting each", async () => {
    const t = await testExit();
    const { client, welcome } = await session(t.exit, t.key);
    const me = welcome.address;
    client.send([
      udp(me, "198.51.100.2"),
      udp(me, "169.254.169.254"),
      udp(me, "10.0.0.1"),
      udp(me, "127.0.0.53"),
      udp(me, "224.0.0.251"),
      udp(me, "255.255.255.255"),
      udp(me, "10.77.0.1"),
      udp("10.77.0.99", "198.51.100.2"),
    ]);
    await until(() => t.tun.written.length === 1 || undefined, "the allowed packet");
    const drops = await t.exit.metrics.registry.getSingleMetricAsString("tether_exit_drops_total");
    for (const [reason, count] of [
      ["egress_link_local", 1],
      ["egress_private", 1],
      ["egress_loopback", 1],
      ["egress_multicast", 1],
      ["egress_reserved", 1],
      ["egress_own_address", 1],
      ["spoofed_source", 1],
    ] as const) {
      expect(drops).toContain(`reason="${reason}"} ${count}`);
    }
  });

  it("lets an allow-listed private range through", async () => {
    const t = await testExit({ allowEgress: parseCidrList("10.0.0.0/24") });
    const { client, welcome } = await session(t.exit, t.key);
    client.send([udp(welcome.address, "10.0.0.1"), udp(welcome.address, "10.0.1.1")]);
    await until(() => t.tun.written.length === 1 || undefined, "the allowed packet");
  });

  it("drops what passes the per-session rate limit, each way", async () => {
    const t = await testExit({ sessionRateLimitMbit: 1 }); // 125 kB/s, burst 64 KiB
    const { client, welcome } = await session(t.exit, t.key);
    const packets = Array.from({ length: 100 }, () => udp(welcome.address, "198.51.100.2", 1400));
    client.send(packets);
    await until(
      async () => (await metricValue(t.exit, "tether_exit_drops_total", 'reason="rate_limited"')) > 0,
      "rate-limited drops",
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(t.tun.written.length).toBeGreaterThanOrEqual(46);
    expect(t.tun.written.length).toBeLessThan(60);
    t.tun.inject(Array.from({ length: 100 }, () => udp("198.51.100.2", welcome.address, 1400)));
    const dataFrames = () => client.frames.filter((f) => f.type === FrameType.DATA);
    await until(() => dataFrames().length > 0 || undefined, "packets down");
    const down = dataFrames().reduce((n, f) => n + (f.type === FrameType.DATA ? f.packets.length : 0), 0);
    expect(down).toBeLessThan(60);
  });
});

describe("operating the exit", () => {
  it("says ready on /healthz and serves Prometheus metrics on a listener of its own, queue delay included", async () => {
    const t = await testExit({ metricsListen: { host: "127.0.0.1", port: 0 } });
    const health = await fetch(`http://127.0.0.1:${t.exit.port}/healthz`);
    expect(health.status).toBe(200);
    await session(t.exit, t.key);
    expect((await fetch(`http://127.0.0.1:${t.exit.port}/metrics`)).status).toBe(404); // not on the public port
    expect((await fetch(`http://127.0.0.1:${t.exit.metricsPort}/other`)).status).toBe(404);
    const metrics = await (await fetch(`http://127.0.0.1:${t.exit.metricsPort}/metrics`)).text();
    expect(metrics).toContain("tether_exit_handshakes_in_progress 0");
    expect(metrics).toContain("tether_exit_send_buffer_bytes 0");
    // CHALLENGE and WELCOME went through the send queue: their waits are in the histogram.
    expect(await metricValue(t.exit, "tether_exit_queue_delay_seconds_count")).toBeGreaterThanOrEqual(2);
  });

  it("writes JSON logs of a session without its key, nonce, handshake message or resume token", async () => {
    const t = await testExit();
    const client = new Client(t.exit);
    const nonce = await client.challenge();
    await client.hello(t.key);
    const welcome = await client.welcome();
    const wrong = new Client(t.exit);
    await wrong.hello(WRONG_KEY);
    await wrong.closed;
    client.socket.close(1000);
    await client.closed;
    await until(() => t.logs.some((l) => l.includes("session detached")) || undefined, "the detach log");
    const { secret } = parseClientKey(t.key);
    const noise = client.laptop.helloBytes!.subarray(-48); // the end of Noise message 1
    const log = t.logs.join("\n");
    for (const line of t.logs) expect(() => JSON.parse(line)).not.toThrow();
    expect(log).toContain("session started");
    expect(log).toContain("laptop-1");
    for (const [what, bytes] of [
      ["key", secret],
      ["wrong key", parseClientKey(WRONG_KEY).secret],
      ["nonce", nonce],
      ["Noise message 1", noise],
      ["resume token", welcome.resumeToken],
      ["session id", welcome.sessionId],
    ] as const) {
      const buffer = Buffer.from(bytes);
      for (const form of ["hex", "base64", "base64url"] as const) {
        expect(log, `${what} (${form})`).not.toContain(buffer.toString(form).replace(/=+$/, ""));
      }
    }
    expect(log).not.toContain(t.key.split(":")[1]);
  });

  it("tells its laptops it is shutting down (CLOSE 4001), and its port closes", async () => {
    const t = await testExit();
    const { client } = await session(t.exit, t.key);
    await t.exit.stop();
    expect(await client.closed).toBe(ErrorCodes.SHUTTING_DOWN.close);
    expect(client.frames.some((f) => f.type === FrameType.CLOSE && f.code === 4001)).toBe(true);
    await expect(fetch(`http://127.0.0.1:${t.exit.port}/healthz`)).rejects.toThrow();
  });

  it("swaps its TLS certificate for new connections on reload (SIGHUP), keeping sessions", async () => {
    const make = async () => {
      const pems = await generate([{ name: "commonName", value: "exit.test" }], { keySize: 2048 });
      return { cert: pems.cert, key: pems.private };
    };
    const first = await make();
    const second = await make();
    const t = await testExit({ tls: first });
    const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;
    const served = () =>
      new Promise<string>((resolve, reject) => {
        const socket = connect({ host: "127.0.0.1", port: t.exit.port, rejectUnauthorized: false }, () => {
          const raw = socket.getPeerX509Certificate();
          socket.end();
          resolve(raw ? raw.fingerprint256 : "");
        });
        socket.once("error", reject);
      });
    expect(await served()).toBe(fingerprint(first.cert));
    const live = new Client(t.exit, true);
    await live.hello(t.key);
    await live.welcome();
    t.exit.reloadTls(second);
    expect(await served()).toBe(fingerprint(second.cert));
    expect(live.socket.readyState).toBe(WebSocket.OPEN);
  });
});
