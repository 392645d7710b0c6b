// The exit's front door: one HTTP(S) server for the phone app, /healthz and /metrics, and the
// upgrade of /tunnel to an exit leg, admitted (exit/limits.ts) before its connection starts.
//
//   TCP ─> its source's place (exit/limits.ts)? no: cut, counted
//     ─> TLS (10 s) ─> request headers (10 s) ─> a request target in origin form? no: 400
//     ├─ GET /healthz (200 while ready, 503 stopping) | /metrics (local networks) | the app | 404
//     └─ upgrade /tunnel?encoding=E ─> Origin ours (or none)? no: 403, counted
//          ─> WebSocket ─> accept(): admitted? ─> options.leg(...)
//                                   └─ refused: CLOSE + its code, counted
//
// A TCP connection holds its source's place until it closes or carries a session (its handshake
// ended well): one source's slow or idle connections fill only its own places.
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
import { CLOSE_HANDSHAKE_TIMEOUT_MS } from "../tunnel/control-budget.js";
import { TunnelEnd } from "../tunnel/end.js";
import { wsTransport } from "../tunnel/ws-transport.js";
import type { Cidr } from "./egress-guard.js";
import {
  maxConnections,
  metricsAllowed,
  SERVER_TIMEOUTS,
  TLS_HANDSHAKE_TIMEOUT_MS,
  tunnelOriginAllowed,
} from "./http-guard.js";
import type { AccessLimits, Admission, ConnectionSlot, ExitLimits } from "./limits.js";
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
const FORBIDDEN = "HTTP/1.1 403 Forbidden\r\nconnection: close\r\n\r\n";

/** A socket's own name among the open ones: its peer's address and port. */
function peerOf(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string {
  return `${socket.remoteAddress}:${socket.remotePort}`;
}

export class ExitServer {
  private readonly server: HttpServer;
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: MAX_TEXT_FRAME_CHARS,
    // ws reads closeTimeout (since 8.18); @types/ws does not list it yet.
    ...{ closeTimeout: CLOSE_HANDSHAKE_TIMEOUT_MS },
  });
  private readonly serveStatic: ReturnType<typeof createStaticHandler>;
  /** Each open TCP connection's place among its source's (exit/limits.ts), by peerOf(). */
  private readonly slots = new Map<string, ConnectionSlot>();

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
    // Net-level, before TLS: a source past its connections is cut before it costs a handshake.
    this.server.on("connection", (socket: Socket) => this.connection(socket));
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
  accept(transport: Transport, encoding: Encoding, address: string, remote: string, socket?: Socket): void {
    const { access, metrics, log } = this.options;
    const admission = access.admit(address);
    if ("code" in admission) {
      // Counted, not logged at info: a flood of these must not become a flood of log lines.
      metrics.handshake(admission.code === "RATE_LIMITED" ? "rate_limited" : "busy");
      metrics.refused(admission.reason);
      log.debug({ remote, code: admission.code, reason: admission.reason }, "connection refused");
      TunnelEnd.refuse(transport, encoding, admission.code);
      return;
    }
    this.options.leg(transport, encoding, remote, socket ? this.freeingPlace(admission, socket) : admission);
  }

  /** A new TCP connection: it takes a place among its source's, or is cut at once (counted). */
  private connection(socket: Socket): void {
    const slot = this.options.access.connection(socket.remoteAddress ?? "");
    if (!slot) {
      this.options.metrics.refused("source_connections");
      socket.destroy();
      return;
    }
    const peer = peerOf(socket);
    this.slots.set(peer, slot);
    socket.once("close", () => {
      slot.release();
      if (this.slots.get(peer) === slot) this.slots.delete(peer);
    });
  }

  /** The handshake slot of a leg over `socket`, which also frees the socket's place once it ends. */
  private freeingPlace(admission: Admission, socket: Socket): Admission {
    const slot = this.slots.get(peerOf(socket));
    return {
      done: (ok) => {
        slot?.release(); // a session now, or the leg is gone: no longer a connection without one
        admission.done(ok);
      },
      sessionRefusal: (clientId, sessions) => admission.sessionRefusal(clientId, sessions),
    };
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
    if (!tunnelOriginAllowed(request.headers.origin, request.headers.host)) {
      // A page of another site may not use a visitor's phone as a relay to this exit.
      this.options.metrics.refused("foreign_origin");
      this.options.log.debug(
        { remote: peerOf(request.socket), origin: request.headers.origin },
        "origin refused",
      );
      socket.end(FORBIDDEN);
      return;
    }
    void limitUnsent(socket as Socket);
    this.wss.handleUpgrade(request, socket, head, (ws) =>
      this.accept(
        wsTransport(ws),
        encoding,
        request.socket.remoteAddress ?? "",
        peerOf(request.socket),
        request.socket,
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
