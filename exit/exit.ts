// The exit as a library: the CLI only turns flags into ExitOptions and calls startExit.
//
//   phone --wss /tunnel--> ExitConnection --DATA--> TUN --> kernel --NAT--> internet
//   internet --> kernel --> TUN --> by destination --> Session --DATA--> phone
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
import { parseClientKey } from "../protocol/client-key.js";
import { ENCODING_PARAM, type Encoding, parseEncoding } from "../protocol/encoding.js";
import { intToIpv4, ipv4Destination, isIpv4 } from "../protocol/ipv4.js";
import { MAX_TEXT_FRAME_CHARS } from "../protocol/limits.js";
import type { Transport } from "../protocol/transport.js";
import type { TunDevice } from "../tun/device.js";
import { openTun } from "../tun/index.js";
import { limitUnsent } from "../tun/tcp-tuning.js";
import { TunnelEnd } from "../tunnel/end.js";
import { wsTransport } from "../tunnel/ws-transport.js";
import { ExitConnection } from "./connection.js";
import { type Cidr, EgressGuard, interfaceAddresses } from "./egress-guard.js";
import { maxConnections, metricsAllowed, SERVER_TIMEOUTS, TLS_HANDSHAKE_TIMEOUT_MS } from "./http-guard.js";
import { checkKeysFileMode, loadKeys } from "./keys.js";
import { watchKeys } from "./keys-watch.js";
import { AccessLimits, EXIT_LIMITS, type ExitLimits } from "./limits.js";
import { createLogger, type Logger } from "./log.js";
import { ExitMetrics } from "./metrics.js";
import { Nat } from "./nat.js";
import { AddressPool } from "./pool.js";
import { SessionRateLimiter } from "./rate-limit.js";
import { DEFAULT_GRACE_MS, type Session, SessionTable } from "./session.js";
import { createStaticHandler } from "./static.js";
import { applyTls, type TlsPair } from "./tls.js";

export const TUNNEL_PATH = "/tunnel";

/** How often the egress guard relearns the exit's own addresses (DHCP, a new interface), ms. */
const OWN_ADDRESSES_REFRESH_MS = 60_000;

export const EXIT_DEFAULTS = {
  host: "0.0.0.0",
  port: 8443,
  pool: "10.77.0.0/16",
  mtu: 1400,
  tunName: "tether-exit0",
  /** How often the laptop should show it is alive when idle, seconds. */
  keepaliveSeconds: 15,
  /** A HELLO must arrive this soon after the CHALLENGE, ms. */
  handshakeTimeoutMs: 10_000,
  /** How long a session without a relay keeps its address and flows, ms. */
  graceMs: DEFAULT_GRACE_MS,
  logLevel: "info",
};

export interface ExitOptions {
  host: string;
  port: number;
  /** PEM certificate and key; without them the exit speaks plain HTTP (behind a TLS proxy). */
  tls?: { cert: string; key: string } | undefined;
  keysFile: string;
  pool: string;
  egress?: string | undefined;
  dns: string[];
  mtu: number;
  tunName: string;
  pwaDir: string;
  keepaliveSeconds: number;
  handshakeTimeoutMs: number;
  graceMs: number;
  logLevel: string;
  /** Packets per DATA frame at most; 1 turns batching off (for measurements). */
  maxPacketsPerFrame?: number | undefined;
  /** Access limits (exit/limits.ts); EXIT_LIMITS when not given. */
  limits?: ExitLimits | undefined;
  /** Destinations allowed whatever the egress guard's defaults refuse (--allow-egress). */
  allowEgress?: Cidr[] | undefined;
  /** Per-session rate limit, each way, Mbit/s; none when not given (--session-rate-limit). */
  sessionRateLimitMbit?: number | undefined;
  /** Who may read /metrics besides this machine and private networks (--metrics-allow). */
  metricsAllow?: Cidr[] | "any" | undefined;
  /** For tests: a TUN to use instead of opening one, and no NAT (no root needed). */
  tun?: TunDevice;
  nat?: boolean;
  logger?: Logger;
}

export interface RunningExit {
  /** The bound port (useful with port 0). */
  port: number;
  url: string;
  metrics: ExitMetrics;
  sessions: SessionTable;
  /**
   * Takes a new exit leg as the upgrade handler does (admission, then its connection) from a
   * transport that did not come through HTTP: tests join a laptop end through the memory pair.
   */
  accept(transport: Transport, encoding: Encoding, remoteAddress: string): void;
  /** Swaps the TLS certificate (SIGHUP); open connections keep theirs. Throws on a plain-HTTP exit. */
  reloadTls(pair: TlsPair): void;
  stop(): Promise<void>;
}

export async function startExit(options: ExitOptions): Promise<RunningExit> {
  const log = options.logger ?? createLogger(options.logLevel);
  const metrics = new ExitMetrics();
  const pool = new AddressPool(options.pool);
  const sessions = new SessionTable({
    graceMs: options.graceMs,
    expired: (session) => {
      pool.release(session.address);
      log.info(
        { client: session.clientId, address: session.address },
        "detached session expired: address freed",
      );
    },
  });
  const connections = new Set<ExitConnection>();
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const step of cleanups.reverse())
      await step().catch((error) => log.error({ err: String(error) }, "cleanup failed"));
    cleanups.length = 0;
  };

  try {
    await checkKeysFileMode(options.keysFile); // the keys are secrets: refuse a file others can read
    await loadKeys(options.keysFile); // fail early on a broken keys file
    const tun = options.tun ?? (await openTun({ name: options.tunName }));
    cleanups.push(() => tun.close());
    if (options.nat !== false) {
      const nat = new Nat({
        tunName: tun.name,
        gateway: pool.gateway,
        poolCidr: `${intToIpv4(pool.prefix.network)}/${pool.prefix.length}`,
        prefixLength: pool.prefix.length,
        mtu: options.mtu,
        egress: options.egress,
      });
      await nat.start();
      cleanups.push(() => nat.stop());
      log.info({ tun: tun.name, egress: nat.egress, pool: options.pool }, "nat up");
    }

    const ownAddresses = () => [...interfaceAddresses(), pool.gateway];
    const egress = new EgressGuard({
      ownAddresses: ownAddresses(),
      allow: options.allowEgress,
      dnsServers: options.dns,
    });
    const relearn = setInterval(() => egress.setOwnAddresses(ownAddresses()), OWN_ADDRESSES_REFRESH_MS);
    relearn.unref();
    cleanups.push(async () => clearInterval(relearn));
    const rateLimit = options.sessionRateLimitMbit
      ? new SessionRateLimiter(options.sessionRateLimitMbit)
      : undefined;
    const access = new AccessLimits(options.limits ?? EXIT_LIMITS);
    metrics.observe({
      handshaking: () => access.handshaking,
      sendBufferBytes: () => {
        let bytes = 0;
        for (const session of sessions.all()) bytes += session.end?.bufferedAmount ?? 0;
        return bytes;
      },
    });
    const keysWatch = await watchKeys(options.keysFile, {
      revoked: (names) => {
        const gone = new Set(names);
        for (const connection of connections) {
          if (connection.clientId !== undefined && gone.has(connection.clientId))
            connection.end("AUTH_FAILED", "client key revoked");
        }
        for (const session of [...sessions.all()]) {
          if (!gone.has(session.clientId)) continue;
          sessions.remove(session);
          pool.release(session.address);
          metrics.revoked.inc();
          log.info({ client: session.clientId, address: session.address }, "key revoked: session ended");
        }
        metrics.sessions.set(sessions.attached);
      },
      error: (error) => log.warn({ err: error.message }, "keys file unreadable: keeping the last good keys"),
    });
    cleanups.push(async () => keysWatch.close());

    tun.onPackets((packets) => routeToSessions(packets, sessions, metrics, rateLimit));

    /** A new exit leg: admitted (its handshake slot) and given its connection, or refused. */
    const accept = (transport: Transport, encoding: Encoding, address: string, remote: string) => {
      const admission = access.admit(address);
      if (typeof admission === "string") {
        // Counted, not logged at info: a flood of these must not become a flood of log lines.
        metrics.handshake(admission === "RATE_LIMITED" ? "rate_limited" : "busy");
        log.debug({ remote, code: admission }, "connection refused");
        TunnelEnd.refuse(transport, encoding, admission);
        return;
      }
      const connection = new ExitConnection(transport, encoding, remote, {
        admission,
        egress,
        ...(rateLimit ? { rateLimit } : {}),
        secretFor: (clientId) => secretFor(options.keysFile, clientId),
        pool,
        sessions,
        tun,
        metrics,
        log,
        mtu: options.mtu,
        dns: options.dns,
        keepaliveSeconds: options.keepaliveSeconds,
        handshakeTimeoutMs: options.handshakeTimeoutMs,
        maxPacketsPerFrame: options.maxPacketsPerFrame,
        closed: () => connections.delete(connection),
      });
      connections.add(connection);
    };

    const serveStatic = createStaticHandler(options.pwaDir);
    let ready = false;
    const handler = (request: IncomingMessage, response: ServerResponse) => {
      const mayScrape = () =>
        metricsAllowed(request.socket.remoteAddress, options.metricsAllow ?? [], ownAddresses);
      void handleHttp(request, response, serveStatic, metrics, () => ready, mayScrape).catch((error) => {
        log.error({ err: String(error) }, "http handler failed");
        if (!response.headersSent) response.writeHead(500).end();
      });
    };
    const server: HttpServer = options.tls
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
    server.maxConnections = maxConnections(options.limits ?? EXIT_LIMITS);
    const wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: MAX_TEXT_FRAME_CHARS,
    });
    server.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = new URL(request.url ?? "/", "http://x");
      const encoding = parseEncoding(url.searchParams.get(ENCODING_PARAM));
      if (url.pathname !== TUNNEL_PATH || !encoding) {
        socket.end("HTTP/1.1 404 Not Found\r\nconnection: close\r\n\r\n");
        return;
      }
      void limitUnsent(socket as Socket);
      wss.handleUpgrade(request, socket, head, (ws) =>
        accept(
          wsTransport(ws),
          encoding,
          request.socket.remoteAddress ?? "",
          `${request.socket.remoteAddress}:${request.socket.remotePort}`,
        ),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port, options.host, () => resolve());
    });
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const connection of connections) connection.shutdown();
          sessions.clear();
          wss.close();
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    const port = (server.address() as AddressInfo).port;
    const url = `${options.tls ? "https" : "http"}://${options.host}:${port}/`;
    ready = true;
    log.info({ url, tls: Boolean(options.tls) }, "exit listening");
    let stopped: Promise<void> | undefined;
    return {
      port,
      url,
      metrics,
      sessions,
      accept: (transport, encoding, address) => accept(transport, encoding, address, address),
      reloadTls: (pair) => {
        if (!options.tls) throw new Error("this exit speaks plain HTTP: there is no certificate to reload");
        applyTls(server as HttpsServer, pair);
        log.info("TLS certificate reloaded");
      },
      stop: () => {
        ready = false; // /healthz says 503 from the first moment of shutdown
        stopped ??= cleanup().then(() => log.info("exit stopped"));
        return stopped;
      },
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

async function handleHttp(
  request: IncomingMessage,
  response: ServerResponse,
  serveStatic: (request: IncomingMessage, response: ServerResponse) => Promise<boolean>,
  metrics: ExitMetrics,
  ready: () => boolean,
  mayScrape: () => boolean,
): Promise<void> {
  const path = new URL(request.url ?? "/", "http://x").pathname;
  if (path === "/healthz") {
    // Ready only while the TUN and NAT are up and the exit is not shutting down.
    const ok = ready();
    response
      .writeHead(ok ? 200 : 503, { "content-type": "application/json", "cache-control": "no-store" })
      .end(ok ? '{"status":"ok"}\n' : '{"status":"stopping"}\n');
  } else if (path === "/metrics" && !mayScrape()) {
    response.writeHead(403, { "content-type": "text/plain" }).end("metrics are for this machine's network\n");
  } else if (path === "/metrics") {
    response
      .writeHead(200, { "content-type": metrics.registry.contentType })
      .end(await metrics.registry.metrics());
  } else if (!(await serveStatic(request, response))) {
    response.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  }
}

/** The packets of `batch` within the session's rate limit (all of them without a limit). */
function withinRate(
  session: Session,
  batch: Uint8Array[],
  metrics: ExitMetrics,
  rateLimit: SessionRateLimiter | undefined,
): Uint8Array[] {
  if (!rateLimit) return batch;
  const now = performance.now();
  const passed = batch.filter((packet) => rateLimit.allow(session, "down", packet.length, now));
  if (passed.length < batch.length) metrics.drop("rate_limited", batch.length - passed.length);
  return passed;
}

/** Hands each packet from the TUN to the session that owns its destination, one batch per session. */
function routeToSessions(
  packets: Uint8Array[],
  sessions: SessionTable,
  metrics: ExitMetrics,
  rateLimit?: SessionRateLimiter,
): void {
  if (packets.length === 1) {
    const packet = packets[0]!;
    const session = isIpv4(packet) ? sessions.byDestination(ipv4Destination(packet)) : undefined;
    if (session) {
      const passed = withinRate(session, packets, metrics, rateLimit);
      if (passed.length) session.sendPackets(passed, metrics);
    } else metrics.drop(isIpv4(packet) ? "no_session" : "not_ipv4");
    return;
  }
  const batches = new Map<Session, Uint8Array[]>();
  for (const packet of packets) {
    if (!isIpv4(packet)) {
      metrics.drop("not_ipv4");
      continue;
    }
    const session = sessions.byDestination(ipv4Destination(packet));
    if (!session) {
      metrics.drop("no_session");
      continue;
    }
    const batch = batches.get(session);
    if (batch) batch.push(packet);
    else batches.set(session, [packet]);
  }
  for (const [session, batch] of batches) {
    const passed = withinRate(session, batch, metrics, rateLimit);
    if (passed.length) session.sendPackets(passed, metrics);
  }
}

async function secretFor(keysFile: string, clientId: string): Promise<Uint8Array | undefined> {
  const keys = await loadKeys(keysFile);
  const entry = keys.find((key) => key.name === clientId);
  return entry ? parseClientKey(`${entry.name}:${entry.key}`).secret : undefined;
}
