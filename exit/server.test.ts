// The exit's front door on its own: hostile request targets are answered, never thrown out of a
// listener (a `//` once stopped the whole exit), and admission refuses with its code.
import { mkdtemp, rm } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import pino from "pino";
import { generate } from "selfsigned";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { decodeFrame } from "../protocol/codec.js";
import { fromMessage } from "../protocol/encoding.js";
import { ErrorCodes } from "../protocol/errors.js";
import { FrameType } from "../protocol/frames.js";
import { type Cidr, parseCidrList } from "../protocol/ip.js";
import { memoryDrained, memoryTransportPair } from "../protocol/transport.js";
import { until } from "../testing/until.js";
import { AccessLimits, type Admission, EXIT_LIMITS, type ExitLimits } from "./limits.js";
import { ExitMetrics } from "./metrics.js";
import { ExitServer } from "./server.js";
import { TrustedProxies } from "./trusted-proxy.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function frontDoor(
  limits: ExitLimits = EXIT_LIMITS,
  trusted: Cidr[] = [],
  tls?: { cert: string; key: string },
) {
  const dir = await mkdtemp(join(tmpdir(), "tether-server-test-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const metrics = new ExitMetrics();
  const legs: string[] = [];
  const admissions: Admission[] = [];
  const server = new ExitServer({
    limits,
    access: new AccessLimits(limits),
    trustedProxies: new TrustedProxies(trusted),
    tls,
    pwaDir: dir,
    metrics,
    log: pino({ level: "silent" }),
    ready: () => true,
    leg: (_transport, _encoding, remote, admission) => {
      legs.push(remote);
      admissions.push(admission);
    },
  });
  const port = await server.listen(0, "127.0.0.1");
  cleanups.push(() => server.close());
  return { server, port, metrics, legs, admissions };
}

/** A TCP connection from `from` (a loopback address of its own) that stays open until closed. */
function hold(port: number, from: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1", localAddress: from }, () => resolve(socket));
    socket.on("error", reject);
    cleanups.push(async () => socket.destroy());
  });
}

/** Resolves once `socket` is closed by the server (true), or false if it is still open after `ms`. */
function closedByServer(socket: Socket, ms = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
    socket.resume();
  });
}

async function refusals(metrics: ExitMetrics, reason: string): Promise<number> {
  const text = await metrics.registry.getSingleMetricAsString("tether_exit_refusals_total");
  const line = text.split("\n").find((l) => l.includes(`reason="${reason}"`));
  return line ? Number(line.split(" ").pop()) : 0;
}

/** Opens /tunnel over a real WebSocket from `from`, with `origin`; resolves with the HTTP status or 101. */
function dialTunnel(port: number, from: string, origin?: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/tunnel`, {
      localAddress: from,
      ...(origin ? { origin } : {}),
    });
    cleanups.push(async () => ws.terminate());
    ws.once("upgrade", () => resolve(101));
    ws.once("unexpected-response", (_request, response) => resolve(response.statusCode ?? 0));
    ws.on("error", () => resolve(0));
  });
}

/** Sends raw bytes and returns the first line of the answer. */
function raw(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(request));
    let answer = "";
    socket.on("data", (chunk) => {
      answer += chunk.toString();
    });
    socket.on("close", () => resolve(answer.split("\r\n")[0] ?? ""));
    socket.on("error", reject);
    socket.setTimeout(5_000, () => socket.destroy(new Error("no answer")));
  });
}

const upgrade = (target: string) =>
  `GET ${target} HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n` +
  "sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

describe("the exit's HTTP server", () => {
  for (const [target, status] of [
    ["//", "404 Not Found"], // a path, not another host
    ["//evil.example/tunnel", "404 Not Found"],
    ["/%zz", "404 Not Found"],
    ["http://[", "400 Bad Request"], // not in origin form: no target at all
    ["*", "400 Bad Request"],
  ] as const) {
    it(`answers a request for ${JSON.stringify(target)} with ${status} and keeps serving`, async () => {
      const { port, legs } = await frontDoor();
      expect(await raw(port, `GET ${target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`)).toBe(
        `HTTP/1.1 ${status}`,
      );
      expect(await raw(port, upgrade(target))).toBe(`HTTP/1.1 ${status}`);
      expect(legs).toEqual([]);
      expect(await raw(port, "GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")).toBe(
        "HTTP/1.1 200 OK",
      );
    });
  }

  it("serves no /metrics on the public port (it has a listener of its own)", async () => {
    const { port } = await frontDoor();
    expect(await raw(port, "GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")).toBe(
      "HTTP/1.1 404 Not Found",
    );
  });

  it("answers an upgrade on another path, or with an unknown encoding, with 404", async () => {
    const { port, legs } = await frontDoor();
    expect(await raw(port, upgrade("/other"))).toBe("HTTP/1.1 404 Not Found");
    expect(await raw(port, upgrade("/tunnel?encoding=rot13"))).toBe("HTTP/1.1 404 Not Found");
    expect(legs).toEqual([]);
  });

  it("refuses a leg past the handshake limit with EXIT_BUSY, CLOSE frame first, and counts it", async () => {
    const { server, metrics, legs } = await frontDoor({ ...EXIT_LIMITS, maxHandshakes: 1 });
    server.accept(memoryTransportPair()[1], "binary", "192.0.2.1", "first");
    const [phone, exitSide] = memoryTransportPair();
    const frames: number[] = [];
    phone.onMessage((message) => frames.push(decodeFrame(fromMessage(message))?.type ?? -1));
    server.accept(exitSide, "binary", "192.0.2.2", "second");
    await memoryDrained(phone, exitSide);
    expect(legs).toEqual(["first"]);
    expect(frames).toEqual([FrameType.CLOSE]);
    expect(phone.closed?.code).toBe(ErrorCodes.EXIT_BUSY.close);
    expect(await metrics.registry.getSingleMetricAsString("tether_exit_handshakes_total")).toContain(
      'result="busy"} 1',
    );
  });

  it("counts a refused admission under its reason", async () => {
    const { server, metrics } = await frontDoor({ ...EXIT_LIMITS, maxHandshakes: 1 });
    server.accept(memoryTransportPair()[1], "binary", "192.0.2.1", "first");
    server.accept(memoryTransportPair()[1], "binary", "192.0.2.2", "second");
    expect(await refusals(metrics, "exit_handshakes")).toBe(1);
  });

  it("holds one source to its handshakes at once with RATE_LIMITED, while another source still gets in", async () => {
    const { server, metrics, legs } = await frontDoor({ ...EXIT_LIMITS, maxHandshakesPerSource: 2 });
    const closes: (number | undefined)[] = [];
    for (let i = 0; i < 5; i++) {
      const [phone, exitSide] = memoryTransportPair();
      server.accept(exitSide, "binary", "203.0.113.5", `flood ${i}`);
      await memoryDrained(phone, exitSide);
      closes.push(phone.closed?.code);
    }
    server.accept(memoryTransportPair()[1], "binary", "198.51.100.9", "good");
    expect(legs).toEqual(["flood 0", "flood 1", "good"]);
    expect(closes).toEqual([undefined, undefined, ...new Array(3).fill(ErrorCodes.RATE_LIMITED.close)]);
    expect(await refusals(metrics, "source_handshakes")).toBe(3);
  });

  it("cuts a source's connections past its limit at once, counted; another source is still served", async () => {
    const { port, metrics } = await frontDoor({ ...EXIT_LIMITS, maxConnectionsPerSource: 3 });
    const held = [];
    for (let i = 0; i < 3; i++) held.push(await hold(port, "127.0.0.2"));
    const fourth = await hold(port, "127.0.0.2");
    expect(await closedByServer(fourth)).toBe(true);
    expect(await closedByServer(held[0]!, 300)).toBe(false); // those within the limit stay
    const other = await new Promise<string>((resolve, reject) => {
      const socket = connect({ port, host: "127.0.0.1", localAddress: "127.0.0.3" }, () =>
        socket.write("GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"),
      );
      let answer = "";
      socket.on("data", (chunk) => {
        answer += chunk.toString();
      });
      socket.on("close", () => resolve(answer.split("\r\n")[0] ?? ""));
      socket.on("error", reject);
    });
    expect(other).toBe("HTTP/1.1 200 OK");
    expect(await refusals(metrics, "source_connections")).toBe(1);
    held[0]!.destroy();
    // The place comes free once the server has seen that close: a dial before then is still refused.
    const again = await until(async () => {
      const socket = await hold(port, "127.0.0.2");
      return !(await closedByServer(socket, 300)) && socket;
    }, "a place to come free");
    expect(again.destroyed).toBe(false);
  });

  it("frees a connection's place once its leg's handshake is done (it carries a session)", async () => {
    const { port, admissions } = await frontDoor({ ...EXIT_LIMITS, maxConnectionsPerSource: 1 });
    expect(await dialTunnel(port, "127.0.0.4")).toBe(101);
    await until(() => admissions.length === 1, "the leg");
    const refused = await hold(port, "127.0.0.4");
    expect(await closedByServer(refused)).toBe(true);
    admissions[0]!.done(true);
    const admitted = await hold(port, "127.0.0.4");
    expect(await closedByServer(admitted, 300)).toBe(false);
  });

  it("refuses an upgrade of /tunnel from a page of another origin with 403, counted; its own origin and none pass", async () => {
    const { port, metrics, legs } = await frontDoor();
    expect(await dialTunnel(port, "127.0.0.5", "https://evil.example")).toBe(403);
    expect(await dialTunnel(port, "127.0.0.5", `http://127.0.0.1:${port}`)).toBe(101);
    expect(await dialTunnel(port, "127.0.0.5")).toBe(101);
    await until(() => legs.length === 2, "two legs");
    expect(await refusals(metrics, "foreign_origin")).toBe(1);
  });
});

describe("the exit's front door behind a trusted proxy", () => {
  /** Sends `first` (a PROXY header, or not) and a /healthz request from `from`; resolves with the status line, or "closed". */
  function viaProxy(port: number, from: string, first: string, keepOpen = false): Promise<string> {
    return new Promise((resolve) => {
      const socket = connect({ port, host: "127.0.0.1", localAddress: from }, () =>
        socket.write(
          Buffer.from(
            `${first}GET /healthz HTTP/1.1\r\nhost: x\r\n${keepOpen ? "" : "connection: close\r\n"}\r\n`,
            "latin1",
          ),
        ),
      );
      cleanups.push(async () => socket.destroy());
      let answer = "";
      socket.on("data", (chunk) => {
        answer += chunk.toString();
        if (keepOpen && answer.includes("\r\n")) resolve(answer.split("\r\n")[0]!);
      });
      socket.on("error", () => undefined);
      socket.on("close", () => resolve(answer.split("\r\n")[0] || "closed"));
    });
  }

  /** Upgrades /tunnel from `from` with `headers`; resolves with the close code the exit ends it with. */
  function tunnelClose(port: number, from: string, headers: Record<string, string>): Promise<number> {
    return new Promise((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/tunnel`, { localAddress: from, headers });
      cleanups.push(async () => ws.terminate());
      ws.on("error", () => undefined);
      ws.once("close", (code) => resolve(code));
      setTimeout(() => resolve(0), 1_500); // still open: admitted
    });
  }

  it("counts a connection under its PROXY header's source (v1), the header read off before HTTP", async () => {
    const { port, metrics } = await frontDoor(
      { ...EXIT_LIMITS, maxConnectionsPerSource: 1 },
      parseCidrList("127.0.0.0/8"),
    );
    expect(await viaProxy(port, "127.0.0.2", "PROXY TCP4 198.51.100.7 127.0.0.1 4711 443\r\n", true)).toBe(
      "HTTP/1.1 200 OK",
    );
    // The same client again through the proxy: past its one place. Another client: served.
    expect(await viaProxy(port, "127.0.0.2", "PROXY TCP4 198.51.100.7 127.0.0.1 4712 443\r\n")).toBe(
      "closed",
    );
    expect(await viaProxy(port, "127.0.0.2", "PROXY TCP4 198.51.100.8 127.0.0.1 4713 443\r\n")).toBe(
      "HTTP/1.1 200 OK",
    );
    expect(await refusals(metrics, "source_connections")).toBe(1);
  });

  it("takes a v2 header too, and a trusted proxy's connection without a header as its own, not held to one source's places", async () => {
    const { port } = await frontDoor(
      { ...EXIT_LIMITS, maxConnectionsPerSource: 1 },
      parseCidrList("127.0.0.0/8"),
    );
    const signature = "\r\n\r\n\0\r\nQUIT\n";
    const v2 = `${signature}\x21\x11\x00\x0c${String.fromCharCode(198, 51, 100, 9, 127, 0, 0, 1, 0x12, 0x67, 0x01, 0xbb)}`;
    expect(await viaProxy(port, "127.0.0.2", v2)).toBe("HTTP/1.1 200 OK");
    expect(await viaProxy(port, "127.0.0.3", "", true)).toBe("HTTP/1.1 200 OK");
    expect(await viaProxy(port, "127.0.0.3", "")).toBe("HTTP/1.1 200 OK");
  });

  it("cuts a trusted proxy's connection whose PROXY header is malformed, counted", async () => {
    const { port, metrics } = await frontDoor(EXIT_LIMITS, parseCidrList("127.0.0.0/8"));
    expect(await viaProxy(port, "127.0.0.2", "PROXY TCP4 198.51.100.777 127.0.0.1 1 2\r\n")).toBe("closed");
    expect(await refusals(metrics, "proxy_header")).toBe(1);
  });

  it("never reads a PROXY header or X-Forwarded-For from a peer it does not trust", async () => {
    const { port, legs } = await frontDoor(
      { ...EXIT_LIMITS, maxHandshakesPerSource: 1 },
      parseCidrList("10.0.0.0/8"),
    );
    expect(await viaProxy(port, "127.0.0.2", "PROXY TCP4 198.51.100.7 127.0.0.1 4711 443\r\n")).toBe(
      "HTTP/1.1 400 Bad Request",
    );
    expect(await tunnelClose(port, "127.0.0.4", { "x-forwarded-for": "198.51.100.1" })).toBe(0);
    // Another client named in the header changes nothing: the peer's one handshake is taken.
    expect(await tunnelClose(port, "127.0.0.4", { "x-forwarded-for": "198.51.100.2" })).toBe(
      ErrorCodes.RATE_LIMITED.close,
    );
    expect(legs[0]).toMatch(/^127\.0\.0\.4:\d+$/);
  });

  it("counts a trusted HTTP proxy's upgrades under X-Forwarded-For's client", async () => {
    const { port, legs } = await frontDoor(
      { ...EXIT_LIMITS, maxHandshakesPerSource: 1 },
      parseCidrList("127.0.0.0/8"),
    );
    expect(await tunnelClose(port, "127.0.0.5", { "x-forwarded-for": "198.51.100.1" })).toBe(0);
    expect(await tunnelClose(port, "127.0.0.5", { "x-forwarded-for": "198.51.100.2" })).toBe(0);
    expect(await tunnelClose(port, "127.0.0.5", { "x-forwarded-for": "203.0.113.5, 198.51.100.1" })).toBe(
      ErrorCodes.RATE_LIMITED.close,
    );
    expect(legs).toEqual([
      expect.stringMatching(/^198\.51\.100\.1 via 127\.0\.0\.5:\d+$/),
      expect.stringMatching(/^198\.51\.100\.2 via 127\.0\.0\.5:\d+$/),
    ]);
  });

  it("reads a PROXY header in front of the exit's own TLS (a TCP proxy), and TLS goes on after it", async () => {
    const pems = await generate([{ name: "commonName", value: "exit.test" }], { keySize: 2048 });
    const { port, metrics } = await frontDoor(
      { ...EXIT_LIMITS, maxConnectionsPerSource: 1 },
      parseCidrList("127.0.0.0/8"),
      { cert: pems.cert, key: pems.private },
    );
    const healthz = (header: string, keepOpen: boolean) =>
      new Promise<string>((resolve) => {
        const raw = connect({ port, host: "127.0.0.1", localAddress: "127.0.0.2" }, () => {
          raw.write(header);
          const secure = tlsConnect({ socket: raw, rejectUnauthorized: false }, () =>
            secure.write(
              `GET /healthz HTTP/1.1\r\nhost: x\r\n${keepOpen ? "" : "connection: close\r\n"}\r\n`,
            ),
          );
          cleanups.push(async () => secure.destroy());
          let answer = "";
          secure.on("data", (chunk) => {
            answer += chunk.toString();
            if (keepOpen && answer.includes("\r\n")) resolve(answer.split("\r\n")[0]!);
          });
          secure.on("error", () => undefined);
          secure.on("close", () => resolve(answer.split("\r\n")[0] || "closed"));
        });
        raw.on("error", () => undefined);
      });
    expect(await healthz("PROXY TCP4 198.51.100.7 127.0.0.1 4711 443\r\n", true)).toBe("HTTP/1.1 200 OK");
    expect(await healthz("PROXY TCP4 198.51.100.7 127.0.0.1 4712 443\r\n", false)).toBe("closed");
    expect(await healthz("PROXY TCP4 198.51.100.8 127.0.0.1 4713 443\r\n", false)).toBe("HTTP/1.1 200 OK");
    expect(await refusals(metrics, "source_connections")).toBe(1);
    expect(await healthz("", false)).toBe("HTTP/1.1 200 OK"); // the proxy's own: no header, TLS at once
  });
});
