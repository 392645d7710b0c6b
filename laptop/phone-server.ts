// The laptop's listener for the phone: wss:// on the laptop's own link addresses (never the TUN's),
// with the certificate the phone was told to trust. It exposes the relay socket at /relay, for a
// phone holding the pairing secret and opening from the exit's PWA origin, and the trust files
// (trust-page.ts): a page at / that says the certificate is now trusted, and the certificate as an
// iOS profile and as a plain file. Nothing else.
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import { type Encoding, parseEncoding } from "../protocol/encoding.js";
import { ErrorCodes } from "../protocol/errors.js";
import { MAX_TEXT_FRAME_CHARS } from "../protocol/limits.js";
import { ENCODING_PARAM, RELAY_PATH, SECRET_PARAM } from "../protocol/paths.js";
import { parseRequestTarget } from "../protocol/request-target.js";
import type { Transport } from "../protocol/transport.js";
import { limitUnsent } from "../tun/tcp-tuning.js";
import { CLOSE_HANDSHAKE_TIMEOUT_MS } from "../tunnel/control-budget.js";
import { wsTransport } from "../tunnel/ws-transport.js";
import { type Certificate, certificateChain } from "./certificate.js";
import { type TrustFile, trustFiles } from "./trust-page.js";

export { RELAY_PATH, SECRET_PARAM };

/**
 * What a stranger on the same Wi-Fi may hold: 10 s to finish TLS and to send request headers
 * (checked every second), and a bounded number of connections (one phone needs one or two; the
 * bound keeps a stranger from using up the process's file descriptors).
 */
const SLOW_CLIENT_TIMEOUT_MS = 10_000;
const MAX_CONNECTIONS = 256;
const STATUS_TEXT = { 400: "Bad Request", 403: "Forbidden", 404: "Not Found" } as const;

const SERVER_LIMITS = {
  handshakeTimeout: SLOW_CLIENT_TIMEOUT_MS,
  headersTimeout: SLOW_CLIENT_TIMEOUT_MS,
  requestTimeout: 3 * SLOW_CLIENT_TIMEOUT_MS,
  connectionsCheckingInterval: 1_000,
} as const;

export interface PhoneServerOptions {
  addresses: string[];
  port: number;
  certificate: Certificate;
  pairingSecret: string;
  /** Origins the relay page may be served from (the exit's). */
  allowedOrigins: string[];
  /** A phone holding the pairing secret connected its laptop leg. */
  onRelay(transport: Transport, encoding: Encoding, remote: string): void;
  onRefused(remote: string, why: string): void;
}

export class PhoneServer {
  private readonly servers: Server[] = [];
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: MAX_TEXT_FRAME_CHARS,
    // ws reads closeTimeout (since 8.18); @types/ws does not list it yet.
    ...{ closeTimeout: CLOSE_HANDSHAKE_TIMEOUT_MS },
  });
  private readonly secret: Buffer;
  private readonly files: Map<string, TrustFile>;

  constructor(private readonly options: PhoneServerOptions) {
    this.secret = Buffer.from(options.pairingSecret);
    this.files = trustFiles(
      options.certificate.caCert ?? options.certificate.cert,
      options.allowedOrigins[0] ?? "",
    );
  }

  async listen(): Promise<void> {
    for (const address of this.options.addresses) {
      const server = createServer(
        {
          cert: certificateChain(this.options.certificate),
          key: this.options.certificate.key,
          ...SERVER_LIMITS,
        },
        (request, response) => this.page(request, response),
      );
      server.maxConnections = MAX_CONNECTIONS;
      server.on("upgrade", (request, socket, head) => {
        // One upgrade's failure is that connection's, never the listener's (nor the process's).
        try {
          this.upgrade(request, socket, head);
        } catch (error) {
          this.options.onRefused(`${request.socket.remoteAddress}`, `upgrade failed: ${String(error)}`);
          socket.destroy();
        }
      });
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(this.options.port, address, () => resolve());
      });
      this.servers.push(server);
    }
  }

  private page(request: IncomingMessage, response: ServerResponse): void {
    const target = parseRequestTarget(request.url);
    const file = target && this.files.get(target.pathname);
    if (!target) {
      response.writeHead(400, { "content-type": "text/plain" }).end("bad request target\n");
    } else if (request.method === "GET" && file) {
      response.writeHead(200, {
        "content-type": file.contentType,
        "cache-control": "no-store",
        // Nothing of ours may be framed by another page, and these pages need nothing but themselves.
        "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        "x-frame-options": "DENY",
        ...(file.filename ? { "content-disposition": `attachment; filename="${file.filename}"` } : {}),
      });
      response.end(file.body);
    } else {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  }

  private upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const remote = `${request.socket.remoteAddress}:${request.socket.remotePort}`;
    const refuse = (why: string, status: 400 | 403 | 404 = 403) => {
      this.options.onRefused(remote, why);
      socket.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nconnection: close\r\n\r\n`);
    };
    const target = parseRequestTarget(request.url);
    if (!target) {
      refuse("not a request target", 400);
      return;
    }
    const encoding = parseEncoding(target.searchParams.get(ENCODING_PARAM));
    // A wrong secret or origin still gets a WebSocket, closed at once with PAIRING_FAILED: a page
    // sees only close codes (an HTTP status of a refused upgrade never reaches its script), and
    // the socket carries nothing before it closes.
    const refusePairing = (why: string) => {
      this.options.onRefused(remote, why);
      this.wss.handleUpgrade(request, socket, head, (ws) => {
        ws.on("error", () => undefined); // a refused stranger's bad frame ends its socket, not tether
        ws.close(ErrorCodes.PAIRING_FAILED.close, "PAIRING_FAILED");
      });
    };
    const origin = request.headers.origin ?? "";
    if (target.pathname !== RELAY_PATH || !encoding) {
      refuse("not the relay path", 404);
    } else if (!this.secretMatches(target.searchParams.get(SECRET_PARAM) ?? "")) {
      refusePairing("wrong pairing secret");
    } else if (!this.options.allowedOrigins.includes(origin)) {
      refusePairing(`origin ${origin || "(none)"} is not the exit's`);
    } else {
      void limitUnsent(socket as Socket);
      this.wss.handleUpgrade(request, socket, head, (ws) =>
        this.options.onRelay(wsTransport(ws), encoding, remote),
      );
    }
  }

  /** Constant time: the secret must not leak through how long a wrong guess takes. */
  private secretMatches(candidate: string): boolean {
    const given = Buffer.from(candidate);
    return given.length === this.secret.length && timingSafeEqual(given, this.secret);
  }

  async close(): Promise<void> {
    for (const client of this.wss.clients) client.close(ErrorCodes.SHUTTING_DOWN.close, "SHUTTING_DOWN");
    this.wss.close();
    await Promise.all(
      this.servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      ),
    );
  }
}
