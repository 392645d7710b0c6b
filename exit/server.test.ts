// The exit's front door on its own: hostile request targets are answered, never thrown out of a
// listener (a `//` once stopped the whole exit), and admission refuses with its code.
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { decodeFrame } from "../protocol/codec.js";
import { fromMessage } from "../protocol/encoding.js";
import { ErrorCodes } from "../protocol/errors.js";
import { FrameType } from "../protocol/frames.js";
import { memoryDrained, memoryTransportPair } from "../protocol/transport.js";
import { AccessLimits, EXIT_LIMITS } from "./limits.js";
import { ExitMetrics } from "./metrics.js";
import { ExitServer } from "./server.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function frontDoor(limits = EXIT_LIMITS) {
  const dir = await mkdtemp(join(tmpdir(), "tether-server-test-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const metrics = new ExitMetrics();
  const legs: string[] = [];
  const server = new ExitServer({
    limits,
    access: new AccessLimits(limits),
    metricsAllow: [],
    ownAddresses: () => [],
    pwaDir: dir,
    metrics,
    log: pino({ level: "silent" }),
    ready: () => true,
    leg: (_transport, _encoding, remote) => legs.push(remote),
  });
  const port = await server.listen(0, "127.0.0.1");
  cleanups.push(() => server.close());
  return { server, port, metrics, legs };
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
});
