// The exit's front door: one HTTP(S) server for the phone app and /healthz, and the
// upgrade of /tunnel to an exit leg, admitted (exit/limits.ts) before its connection starts.
//
//   TCP ─> from a trusted proxy (exit/trusted-proxy.ts)? its PROXY header, if any, names the source
//     ─> the source's place (exit/limits.ts)? no: cut, counted
//     ─> TLS (10 s) ─> request headers (10 s) ─> a request target in origin form? no: 400
//     ├─ GET /healthz (200 while ready, 503 stopping) | the app | 404 (/metrics has its own listener)
//     └─ upgrade /tunnel?encoding=E ─> Origin ours (or none)? no: 403, counted
//          ─> WebSocket ─> accept(): admitted? ─> options.leg(...)
//                                   └─ refused: CLOSE + its code, counted
//
// A TCP connection holds its source's place until it closes or carries a session (its handshake
// ended well): one source's slow or idle connections fill only its own places. The source is the
// peer's address, except from a trusted proxy: its PROXY header's, else each upgrade's
// X-Forwarded-For (a proxy without PROXY headers is not held to one source's places: it carries many).
//
// The front door is a plain TCP server that hands each connection it keeps to the HTTP(S) server
// (`emit("connection")`), which never listens itself: so a PROXY header is read off before TLS.
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
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from "node:net";
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
import {
  maxConnections,
  SERVER_TIMEOUTS,
  TLS_HANDSHAKE_TIMEOUT_MS,
  tunnelOriginAllowed,
} from "./http-guard.js";
import type { AccessLimits, Admission, ConnectionSlot, ExitLimits } from "./limits.js";
import type { Logger } from "./log.js";
import type { ExitMetrics } from "./metrics.js";
import { createStaticHandler } from "./static.js";
import { applyTls, type TlsPair } from "./tls.js";
import {
  PROXY_HEADER_TIMEOUT_MS,
  type ProxyHeader,
  readProxyHeader,
  type TrustedProxies,
} from "./trusted-proxy.js";

export interface ExitServerOptions {
  /** PEM certificate and key; without them plain HTTP (behind a TLS proxy). */
  tls?: { cert: string; key: string } | undefined;
  limits: ExitLimits;
  access: AccessLimits;
  /** Proxies whose PROXY header or X-Forwarded-For names a connection's source (none: nobody's). */
  trustedProxies?: TrustedProxies | undefined;
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

/** What the front door knows of an open TCP connection. */
interface Peer {
  /** The address limits and logs count it under. */
  source: string;
  /** Named by a trusted proxy's PROXY header. */
  proxied: boolean;
  /** Its place among its source's connections; none for a trusted proxy's own. */
  slot: ConnectionSlot | undefined;
}

export class ExitServer {
  /** Listens, and hands the connections it keeps to `server`. */
  private readonly front: NetServer;
  private readonly server: HttpServer;
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: MAX_TEXT_FRAME_CHARS,
    // ws reads closeTimeout (since 8.18); @types/ws does not list it yet.
    ...{ closeTimeout: CLOSE_HANDSHAKE_TIMEOUT_MS },
  });
  private readonly serveStatic: ReturnType<typeof createStaticHandler>;
  /** Each open TCP connection's source and place among its source's (exit/limits.ts), by peerOf(). */
  private readonly peers = new Map<string, Peer>();
  /** Connections still reading a trusted proxy's PROXY header (not the HTTP server's yet). */
  private readonly sockets = new Set<Socket>();

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
    // Net-level, before TLS: a source past its connections is cut before it costs a handshake.
    this.front = createNetServer((socket) => this.connection(socket));
    this.front.maxConnections = maxConnections(options.limits);
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
      this.front.once("error", reject);
      this.front.listen(port, host, () => {
        this.front.off("error", reject);
        resolve();
      });
    });
    this.front.on("error", (error) => this.options.log.error({ err: String(error) }, "listener failed"));
    // The HTTP(S) server never listens (the front door does): its "listening" starts what it does
    // for its connections then, the headers and request timeouts' checks.
    this.server.emit("listening");
    return (this.front.address() as AddressInfo).port;
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

  /** A new TCP connection: from a trusted proxy, its PROXY header first; then its place. */
  private connection(socket: Socket): void {
    const address = socket.remoteAddress ?? "";
    if (!this.options.trustedProxies?.trusts(address)) {
      this.keep(socket, address, false);
      return;
    }
    // A trusted proxy: a PROXY header (v1 or v2) names the client, or none comes (an HTTP proxy:
    // X-Forwarded-For does, per request). Read off before anything else reads the socket.
    let buffered = Buffer.alloc(0);
    const ignore = () => undefined; // its error is its close; nothing else to do
    const finish = (header: ProxyHeader) => {
      clearTimeout(timer);
      socket.off("data", read);
      socket.off("error", ignore);
      this.sockets.delete(socket);
      if (header.kind === "incomplete" || header.kind === "malformed") {
        this.options.metrics.refused("proxy_header");
        this.options.log.warn(
          { remote: peerOf(socket), why: header.kind === "malformed" ? header.why : "no header in time" },
          "trusted proxy's PROXY header refused",
        );
        socket.destroy();
        return;
      }
      socket.pause();
      const start = header.kind === "header" ? header.bytes : 0;
      if (buffered.length > start) socket.unshift(buffered.subarray(start));
      const source = header.kind === "header" ? header.source : undefined;
      if (source === undefined) this.keep(socket, address, false, false);
      else this.keep(socket, source, true);
      // TLS takes the socket's handle and reads what was put back itself; plain HTTP reads it
      // through the stream, paused above.
      if (!this.options.tls) socket.resume();
    };
    const read = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const header = readProxyHeader(buffered);
      if (header.kind !== "incomplete") finish(header);
    };
    const timer = setTimeout(() => finish({ kind: "incomplete" }), PROXY_HEADER_TIMEOUT_MS);
    this.sockets.add(socket);
    socket.on("error", ignore);
    socket.on("data", read);
    socket.once("close", () => {
      clearTimeout(timer);
      this.sockets.delete(socket);
    });
  }

  /**
   * A connection from `source` takes a place among its source's, or is cut at once (counted), and
   * goes on to the HTTP(S) server. `limited` false: a trusted proxy's own, which carries many.
   */
  private keep(socket: Socket, source: string, proxied: boolean, limited = true): void {
    const slot = limited ? this.options.access.connection(source) : undefined;
    if (limited && !slot) {
      this.options.metrics.refused("source_connections");
      socket.destroy();
      return;
    }
    const peer = peerOf(socket);
    const entry: Peer = { source, proxied, slot };
    this.peers.set(peer, entry);
    socket.once("close", () => {
      slot?.release();
      if (this.peers.get(peer) === entry) this.peers.delete(peer);
    });
    this.server.emit("connection", socket);
  }

  /**
   * Where a request comes from, for limits and logs: its connection's source, or, from a trusted
   * proxy without a PROXY header, X-Forwarded-For's client. `remote` names both for the log.
   */
  private sourceOf(request: IncomingMessage): { address: string; remote: string } {
    const peer = peerOf(request.socket);
    const known = this.peers.get(peer);
    const address = request.socket.remoteAddress ?? "";
    if (known?.proxied) return { address: known.source, remote: `${known.source} via ${peer}` };
    const trusted = this.options.trustedProxies;
    if (!trusted?.trusts(address)) return { address, remote: peer };
    const source = trusted.forwardedFor(request.headers["x-forwarded-for"], address);
    return { address: source, remote: source === address ? peer : `${source} via ${peer}` };
  }

  /** The handshake slot of a leg over `socket`, which also frees the socket's place once it ends. */
  private freeingPlace(admission: Admission, socket: Socket): Admission {
    const slot = this.peers.get(peerOf(socket))?.slot;
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
    this.server.close(() => undefined); // not listening: this only stops its timeouts' checks
    return new Promise((resolve) => {
      this.front.close(() => resolve());
      this.server.closeAllConnections();
      for (const socket of this.sockets) socket.destroy(); // those still reading a PROXY header
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
    const { address, remote } = this.sourceOf(request);
    // Behind a trusted proxy the host asked may be the proxy's X-Forwarded-Host.
    const viaProxy = this.options.trustedProxies?.trusts(request.socket.remoteAddress);
    const forwardedHost = viaProxy ? request.headers["x-forwarded-host"] : undefined;
    const host =
      typeof forwardedHost === "string" ? forwardedHost.split(",")[0]!.trim() : request.headers.host;
    if (
      !tunnelOriginAllowed(request.headers.origin, host) &&
      !tunnelOriginAllowed(request.headers.origin, request.headers.host)
    ) {
      // A page of another site may not use a visitor's phone as a relay to this exit.
      this.options.metrics.refused("foreign_origin");
      this.options.log.debug({ remote, origin: request.headers.origin }, "origin refused");
      socket.end(FORBIDDEN);
      return;
    }
    void limitUnsent(socket as Socket);
    this.wss.handleUpgrade(request, socket, head, (ws) =>
      this.accept(wsTransport(ws), encoding, address, remote, request.socket),
    );
  }

  private async request(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const { ready } = this.options;
    const target = parseRequestTarget(request.url);
    if (!target) {
      response.writeHead(400, { "content-type": "text/plain" }).end("bad request target\n");
    } else if (target.pathname === "/healthz") {
      // Ready only while the TUN and NAT are up and the exit is not shutting down.
      const ok = ready();
      response
        .writeHead(ok ? 200 : 503, { "content-type": "application/json", "cache-control": "no-store" })
        .end(ok ? '{"status":"ok"}\n' : '{"status":"stopping"}\n');
    } else if (!(await this.serveStatic(request, response, target.pathname))) {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  }
}
