// The laptop's listener as a stranger on the same Wi-Fi sees it: only the trust page and, for the
// paired phone on the exit's origin, the relay socket. Everything else is refused with a clear code.

import { mkdtemp, rm } from "node:fs/promises";
import { request as httpsRequest } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { ErrorCodes } from "../protocol/errors.js";
import { MAX_TEXT_FRAME_CHARS } from "../protocol/limits.js";
import type { Transport } from "../protocol/transport.js";
import { loadOrCreateCertificate } from "./certificate.js";
import { PhoneServer, RELAY_PATH, SECRET_PARAM } from "./phone-server.js";

const SECRET = "s3cret-pairing-value-0123456789";
const ORIGIN = "https://exit.example:8443";

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let dir: string;
let server: PhoneServer;
let port: number;
const relays: Transport[] = [];
const refusals: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tether-phone-server-test-"));
  port = await freePort();
  server = new PhoneServer({
    addresses: ["127.0.0.1"],
    port,
    certificate: await loadOrCreateCertificate(dir, ["127.0.0.1"]),
    pairingSecret: SECRET,
    allowedOrigins: [ORIGIN],
    onRelay: (transport) => relays.push(transport),
    onRefused: (_remote, why) => refusals.push(why),
  });
  await server.listen();
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

function get(path: string, method = "GET"): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: "127.0.0.1", port, path, method, rejectUnauthorized: false }, (res) => {
      let body = "";
      res.on("data", (chunk) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once("error", reject);
    req.end();
  });
}

/** Opens a WebSocket and says how it ended: a close code, or the HTTP status of a refused upgrade. */
function dial(
  path: string,
  origin: string | undefined,
  onOpen?: (ws: WebSocket) => void,
): Promise<{ closeCode?: number; status?: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}${path}`, {
      rejectUnauthorized: false,
      ...(origin ? { origin } : {}),
    });
    ws.once("open", () => onOpen?.(ws));
    ws.once("unexpected-response", (_req, res) => {
      resolve({ status: res.statusCode });
      ws.terminate();
    });
    ws.once("close", (code) => resolve({ closeCode: code }));
    ws.on("error", () => undefined);
  });
}

const relayPath = (secret = SECRET, extra = "") =>
  `${RELAY_PATH}?${SECRET_PARAM}=${encodeURIComponent(secret)}${extra}`;

describe("the laptop's listener for the phone", () => {
  it("serves the trust page at /, and nothing else over plain HTTPS", async () => {
    const page = await get("/");
    expect(page.status).toBe(200);
    expect(page.body).toContain("Certificate trusted");
    for (const path of [
      "/index.html",
      "/relay",
      "/metrics",
      "/healthz",
      "/..%2f..%2fetc%2fpasswd",
      "/config.json",
    ]) {
      expect((await get(path)).status, path).toBe(404);
    }
    expect((await get("/", "POST")).status).toBe(404);
    expect((await get("/", "PUT")).status).toBe(404);
  });

  it("hands the paired phone's socket to the tunnel", async () => {
    const before = relays.length;
    const result = dial(relayPath(), ORIGIN, (ws) => ws.close(1000));
    expect((await result).closeCode).toBe(1000);
    expect(relays.length).toBe(before + 1);
  });

  it.each([
    ["a wrong pairing secret", relayPath("wrong-secret-of-another-length"), ORIGIN, "wrong pairing secret"],
    [
      "a wrong secret of the same length",
      relayPath(SECRET.replace(/.$/, "X")),
      ORIGIN,
      "wrong pairing secret",
    ],
    ["no secret", RELAY_PATH, ORIGIN, "wrong pairing secret"],
    ["another origin", relayPath(), "https://evil.example", "is not the exit's"],
    ["no origin", relayPath(), undefined, "(none)"],
  ])(
    "closes a socket with %s with PAIRING_FAILED (4403), never reaching the tunnel",
    async (_what, path, origin, why) => {
      const before = relays.length;
      expect(await dial(path, origin)).toEqual({ closeCode: ErrorCodes.PAIRING_FAILED.close });
      expect(relays.length).toBe(before);
      expect(refusals.at(-1)).toContain(why);
    },
  );

  it("refuses an upgrade on any other path, or with an unknown encoding, with 404", async () => {
    expect(await dial(`/tunnel?${SECRET_PARAM}=${SECRET}`, ORIGIN)).toEqual({ status: 404 });
    expect(await dial(`/?${SECRET_PARAM}=${SECRET}`, ORIGIN)).toEqual({ status: 404 });
    expect(await dial(relayPath(SECRET, "&encoding=rot13"), ORIGIN)).toEqual({ status: 404 });
  });

  it("closes a paired socket that sends a message over the size limit with 1009", async () => {
    const result = dial(relayPath(), ORIGIN, (ws) => ws.send("A".repeat(MAX_TEXT_FRAME_CHARS + 4)));
    expect((await result).closeCode).toBe(1009);
  });

  it("answers hostile request targets ('//', '*') and keeps serving: no throw out of the listener", async () => {
    const raw = (request: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () =>
          socket.write(request),
        );
        let answer = "";
        socket.on("data", (chunk) => {
          answer += chunk.toString();
        });
        socket.on("close", () => resolve(answer.split("\r\n")[0] ?? ""));
        socket.on("error", reject);
      });
    const upgrade = (target: string) =>
      `GET ${target} HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n` +
      "sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    expect(await raw(upgrade("//"))).toBe("HTTP/1.1 404 Not Found");
    expect(await raw(upgrade("*"))).toBe("HTTP/1.1 400 Bad Request");
    expect(await raw("GET // HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")).toBe(
      "HTTP/1.1 404 Not Found",
    );
    expect(await raw("GET * HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")).toBe(
      "HTTP/1.1 400 Bad Request",
    );
    expect((await get("/")).status).toBe(200);
  });

  it("forbids framing its pages", async () => {
    const page = await new Promise<string | undefined>((resolve, reject) => {
      httpsRequest({ host: "127.0.0.1", port, path: "/", rejectUnauthorized: false }, (res) => {
        res.resume();
        resolve(res.headers["content-security-policy"] as string | undefined);
      })
        .once("error", reject)
        .end();
    });
    expect(page).toContain("frame-ancestors 'none'");
  });

  it("survives a refused peer that sends broken WebSocket framing before its close", async () => {
    const bad = Buffer.from([0xf1, 0x80, 0, 0, 0, 0]); // RSV1-3 set, masked, empty: ws refuses it
    const result = dial(relayPath("wrong-secret-of-another-length"), ORIGIN, (ws) =>
      (ws as unknown as { _socket: { write(b: Buffer): void } })._socket.write(bad),
    );
    expect((await result).closeCode).toBeDefined();
    expect((await get("/")).status).toBe(200);
  });
});
