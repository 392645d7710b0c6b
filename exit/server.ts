// The exit's front door: one HTTP(S) server for the phone app, /healthz and /metrics, and the
// upgrade of /tunnel to an exit leg, admitted (exit/limits.ts) before its connection starts.
//
//   TCP ─> TLS (10 s) ─> request headers (10 s) ─> a request target in origin form? no: 400
//     ├─ GET /healthz (200 while ready, 503 stopping) | /metrics (local networks) | the app | 404
//     └─ upgrade /tunnel?encoding=E ─> WebSocket ─> accept(): admitted? ─> options.leg(...)
//                                                           └─ refused: CLOSE + its code, counted
//
// Each request and each upgrade is its own boundary: whatever one of them throws is answered (500
// or the socket destroyed) and logged, and never reaches the process.
import {
  createServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import { type Encoding, parseEncoding } from "../protocol/encoding.js";
import { MAX_TEXT_FRAME_CHARS } from "../protocol/limits.js";
import { ENCODING_PARAM, TUNNEL_PATH } from "../protocol/paths.js";
import { parseRequestTarget } from "../protocol/request-target.js";
import type { Transport } from "../protocol/transport.js";
import { limitUnsent } from "../tun/tcp-tuning.js";
import { TunnelEnd } from "../tunnel/end.js";
import { wsTransport } from "../tunnel/ws-transport.js";
import type { Cidr } from "./egress-guard.js";
import { maxConnections, metricsAllowed, SERVER_TIMEOUTS, TLS_HANDSHAKE_TIMEOUT_MS } from "./http-guard.js";
import type { AccessLimits, Admission, ExitLimits } from "./limits.js";
import type { Logger } from "./log.js";
import type { ExitMetrics } from "./metrics.js";
import { createStaticHandler } from "./static.js";
import { applyTls, type TlsPair } from "./tls.js";

export interface ExitServerOptions {
  /** PEM certificate and key; without them plain HTTP (behind a TLS proxy). */
  tls?: { cert: string; key: string } | undefined;
  limits: ExitLimits;
  access: AccessLimits;
  /** Who may read /metrics besides this machine and private networks. */
  metricsAllow: readonly Cidr[] | "any";
  ownAddresses: () => readonly string[];
  pwaDir: string;
  metrics: ExitMetrics;
  log: Logger;
  /** Whether /healthz says ready. */
  ready: () => boolean;
  /** An admitted exit leg: give it its connection (it holds `admission` until its handshake ends). */
  leg(transport: Transport, encoding: Encoding, remote: string, admission: Admission): void;
}

const BAD_REQUEST = "HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n";
const NOT_FOUND = "HTTP/1.1 404 Not Found\r\nconnection: close\r\n\r\n";

export class ExitServer {
  private readonly server: HttpServer;
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: MAX_TEXT_FRAME_CHARS,
  });
  private readonly serveStatic: ReturnType<typeof createStaticHandler>;

  constructor(private readonly options: ExitServerOptions) {
    this.serveStatic = createStaticHandler(options.pwaDir);
    const handler = (request: IncomingMessage, response: ServerResponse) => {
      this.request(request, response).catch((error) => {
        options.log.error({ err: String(error) }, "http handler failed");
        if (!response.headersSent) response.writeHead(500).end();
        else response.destroy();
      });
    };
    this.server = options.tls
      ? createHttpsServer(
          {
            cert: options.tls.cert,
            key: options.tls.key,
            handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
            ...SERVER_TIMEOUTS,
          },
          handler,
        )
      : createServer(SERVER_TIMEOUTS, handler);
    this.server.maxConnections = maxConnections(options.limits);
    this.server.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      try {
        this.upgrade(request, socket, head);
      } catch (error) {
        options.log.error({ err: String(error) }, "upgrade failed");
        socket.destroy();
      }
    });
  }

  /** Binds; resolves with the port (useful with port 0). */
  async listen(port: number, host: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  /**
   * A new exit leg: admitted (a handshake slot, the source's failure budget) and handed on, or
   * refused at once with RATE_LIMITED or EXIT_BUSY (CLOSE frame, then the close code).
   */
  accept(transport: Transport, encoding: Encoding, address: string, remote: string): void {
    const { access, metrics, log } = this.options;
    const admission = access.admit(address);
    if (typeof admission === "string") {
      // Counted, not logged at info: a flood of these must not become a flood of log lines.
      metrics.handshake(admission === "RATE_LIMITED" ? "rate_limited" : "busy");
      log.debug({ remote, code: admission }, "connection refused");
      TunnelEnd.refuse(transport, encoding, admission);
      return;
    }
    this.options.leg(transport, encoding, remote, admission);
  }

  /** Swaps the TLS certificate; open connections keep theirs. Throws on a plain-HTTP exit. */
  reloadTls(pair: TlsPair): void {
    if (!this.options.tls) throw new Error("this exit speaks plain HTTP: there is no certificate to reload");
    applyTls(this.server as HttpsServer, pair);
  }

  /** Stops listening and drops every connection left. */
  close(): Promise<void> {
    this.wss.close();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const target = parseRequestTarget(request.url);
    if (!target) {
      socket.end(BAD_REQUEST);
      return;
    }
    const encoding = parseEncoding(target.searchParams.get(ENCODING_PARAM));
    if (target.pathname !== TUNNEL_PATH || !encoding) {
      socket.end(NOT_FOUND);
      return;
    }
    void limitUnsent(socket as Socket);
    this.wss.handleUpgrade(request, socket, head, (ws) =>
      this.accept(
        wsTransport(ws),
        encoding,
        request.socket.remoteAddress ?? "",
        `${request.socket.remoteAddress}:${request.socket.remotePort}`,
      ),
    );
  }

  private async request(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const { metrics, metricsAllow, ownAddresses, ready } = this.options;
    const target = parseRequestTarget(request.url);
    if (!target) {
      response.writeHead(400, { "content-type": "text/plain" }).end("bad request target\n");
    } else if (target.pathname === "/healthz") {
      // Ready only while the TUN and NAT are up and the exit is not shutting down.
      const ok = ready();
      response
        .writeHead(ok ? 200 : 503, { "content-type": "application/json", "cache-control": "no-store" })
        .end(ok ? '{"status":"ok"}\n' : '{"status":"stopping"}\n');
    } else if (
      target.pathname === "/metrics" &&
      !metricsAllowed(request.socket.remoteAddress, metricsAllow, ownAddresses)
    ) {
      response
        .writeHead(403, { "content-type": "text/plain" })
        .end("metrics are for this machine's network\n");
    } else if (target.pathname === "/metrics") {
      response
        .writeHead(200, { "content-type": metrics.registry.contentType })
        .end(await metrics.registry.metrics());
    } else if (!(await this.serveStatic(request, response, target.pathname))) {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  }
}
