import type { Encoding } from "../protocol/encoding.js";
import { formatIpv4, type Cidr as IpCidr, type Ipv6Cidr, parseIpv4Cidr } from "../protocol/ip.js";
import type { Transport } from "../protocol/transport.js";
import type { TunDevice } from "../tun/device.js";
import { openTun } from "../tun/index.js";
import { ExitConnection } from "./connection.js";
import { routeToSessions } from "./downlink.js";
import { DualStack } from "./dual-stack.js";
import { type Cidr, EgressGuard, interfaceAddresses } from "./egress-guard.js";
import { EgressGuard6, interfaceAddresses6 } from "./egress-guard6.js";
import { planIpv6 } from "./ipv6-plan.js";
import { checkKeysFileMode, KeyStore, loadKeys } from "./keys.js";
import { watchKeys } from "./keys-watch.js";
import { AccessLimits, EXIT_LIMITS, type ExitLimits, HELLO_DEADLINE_MS } from "./limits.js";
import { createLogger, type Logger } from "./log.js";
import { ExitMetrics } from "./metrics.js";
import { startMetricsServer } from "./metrics-server.js";
import { Nat } from "./nat.js";
import { AddressPool } from "./pool.js";
import { SessionRateLimiter } from "./rate-limit.js";
import { ExitServer } from "./server.js";
import { DEFAULT_GRACE_MS, type Session, SessionTable } from "./session.js";
import type { TlsPair } from "./tls.js";
import { TrustedProxies } from "./trusted-proxy.js";

export { TUNNEL_PATH } from "../protocol/paths.js";

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
  /** A HELLO must arrive (and be checked) this soon after the connection opens and its CHALLENGE, ms. */
  handshakeTimeoutMs: HELLO_DEADLINE_MS,
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
  /** Super-packets with laptops that offer them (default true); false: ordinary packets only. */
  superPackets?: boolean | undefined;
  /** Access limits (exit/limits.ts); EXIT_LIMITS when not given. */
  limits?: ExitLimits | undefined;
  /** Destinations allowed whatever the egress guard's defaults refuse (--allow-egress). */
  allowEgress?: Cidr[] | undefined;
  /** IPv6 prefix for laptops (--pool6): a prefix, "off", or undefined for a random unique-local /64. */
  pool6?: string | undefined;
  /** The IPv6 prefix is routed to this host: no masquerade (--pool6-routed). */
  pool6Routed?: boolean | undefined;
  /** IPv6 DNS servers for laptops (--dns's IPv6 entries). */
  dns6?: string[] | undefined;
  /** IPv6 destinations allowed although the IPv6 egress guard refuses them (--allow-egress's IPv6 entries). */
  allowEgress6?: Ipv6Cidr[] | undefined;
  /** IPv6 destinations refused whatever --allow-egress says (--deny-egress's IPv6 entries). */
  denyEgress6?: Ipv6Cidr[] | undefined;
  /** Destinations refused whatever --allow-egress says (--deny-egress). */
  denyEgress?: Cidr[] | undefined;
  /** Addresses the exit is reached at but has on no interface (1:1 NAT, a Docker host; --public-address). */
  publicAddresses?: string[] | undefined;
  /** Per-session rate limit, each way, Mbit/s; none when not given (--session-rate-limit). */
  sessionRateLimitMbit?: number | undefined;
  /** Who may read /metrics besides this machine and private networks (--metrics-allow). */
  metricsAllow?: Cidr[] | "any" | undefined;
  /**
   * Where /metrics is served, on a listener of its own (exit/metrics-server.ts); not served when
   * not given or "off" (the command's default is METRICS_LISTEN_DEFAULT, 127.0.0.1:9464).
   */
  metricsListen?: { host: string; port: number } | "off" | undefined;
  /** Proxies whose PROXY header or X-Forwarded-For names a client's address (--trusted-proxy). */
  trustedProxies?: IpCidr[] | undefined;
  /** For tests: a TUN to use instead of opening one, and no NAT (no root needed). */
  tun?: TunDevice;
  nat?: boolean;
  logger?: Logger;
}

export interface RunningExit {
  /** The bound port (useful with port 0). */
  port: number;
  /** The metrics listener's bound port, when it has one. */
  metricsPort: number | undefined;
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
  // A session's IPv6 address, once the IPv6 plan is known (below): its flows are forgotten too.
  let address6Of: (session: Session) => string | undefined = () => undefined;
  const sessions = new SessionTable({
    graceMs: options.graceMs,
    pool,
    metrics,
    log,
    // Without NAT (tests) there are no flows of ours in conntrack to forget.
    ...(options.nat === false ? { release: async (p, address) => p.release(address) } : {}),
    address6: (session) => address6Of(session),
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
    // Read per handshake; a file mid-edit or a malformed key is refused and reported, last good kept.
    const keyStore = new KeyStore(options.keysFile, {
      refused: (error) => log.warn({ err: error.message }, "keys file refused: keeping the last good keys"),
    });
    // Offloads: GRO super-packets from the internet in one read (split in the reader thread), and
    // the segments of a DATA frame coalesced into one write, which routing and NAT handle once.
    const tun =
      options.tun ??
      (await openTun({
        name: options.tunName,
        // Super-packets handed over whole (each session's tunnel end sends or splits them).
        offload: { superPackets: true, onNote: (note) => log.warn({ tun: "offload" }, note) },
      }));
    cleanups.push(() => tun.close());
    const plan = planIpv6(options);
    // Without NAT (tests on a fake TUN) the plan stands; with it, only if the host let IPv6 up.
    let ipv6Up = "pool" in plan;
    if (options.nat !== false) {
      const nat = new Nat({
        tunName: tun.name,
        gateway: pool.gateway,
        poolCidr: `${formatIpv4(pool.prefix.network)}/${pool.prefix.length}`,
        prefixLength: pool.prefix.length,
        mtu: options.mtu,
        egress: options.egress,
        warn: (message) => log.warn(message),
        ipv6:
          "pool" in plan
            ? { gateway: plan.pool.gateway, poolCidr: plan.pool.cidr, routed: plan.routed }
            : undefined,
      });
      await nat.start();
      cleanups.push(() => nat.stop());
      ipv6Up = nat.ipv6;
      log.info({ tun: tun.name, egress: nat.egress, pool: options.pool }, "nat up");
    }
    const pool6 = ipv6Up && "pool" in plan ? plan.pool : undefined;
    if (pool6) log.info({ pool6: pool6.cidr, routed: "pool" in plan && plan.routed }, "IPv6 for laptops");
    else
      log.info({ reason: "off" in plan ? plan.off : "the host did not let IPv6 up" }, "IPv6 for laptops off");

    const ownAddresses = () => [...interfaceAddresses(), pool.gateway];
    const egress = new EgressGuard({
      ownAddresses: ownAddresses(),
      publicAddresses: options.publicAddresses,
      pool: parseIpv4Cidr(options.pool),
      deny: options.denyEgress,
      allow: options.allowEgress,
      dnsServers: options.dns,
    });
    const ownAddresses6 = () => [...interfaceAddresses6(), ...(pool6 ? [pool6.gateway] : [])];
    const egress6 = new EgressGuard6({
      ownAddresses: ownAddresses6(),
      publicAddresses: options.publicAddresses,
      pool: pool6?.prefix,
      deny: options.denyEgress6,
      allow: options.allowEgress6,
      dnsServers: options.dns6,
    });
    const dualStack = new DualStack<Session>({
      pool,
      pool6,
      egress,
      egress6,
      dns6: options.dns6 ?? [],
      byDestination: (address) => sessions.byDestination(address),
    });
    address6Of = (session) => dualStack.address6(session)?.text;
    const relearn = setInterval(() => {
      egress.setOwnAddresses(ownAddresses());
      egress6.setOwnAddresses(ownAddresses6());
    }, OWN_ADDRESSES_REFRESH_MS);
    relearn.unref();
    cleanups.push(async () => clearInterval(relearn));
    const rateLimit = options.sessionRateLimitMbit
      ? new SessionRateLimiter(options.sessionRateLimitMbit)
      : undefined;
    const limits = options.limits ?? EXIT_LIMITS;
    const access = new AccessLimits(limits);
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
          if (gone.has(session.clientId)) sessions.end(session, "revoked");
        }
      },
      error: (error) => log.warn({ err: error.message }, "keys file unreadable: keeping the last good keys"),
    });
    cleanups.push(async () => keysWatch.close());

    tun.onPackets((packets, segmentSizes) =>
      routeToSessions(packets, dualStack, metrics, rateLimit, segmentSizes),
    );

    let ready = false;
    const server = new ExitServer({
      tls: options.tls,
      limits,
      access,
      trustedProxies: new TrustedProxies(options.trustedProxies ?? []),
      pwaDir: options.pwaDir,
      metrics,
      log,
      ready: () => ready,
      leg: (transport, encoding, remote, admission) => {
        const connection = new ExitConnection(transport, encoding, remote, {
          admission,
          egress,
          dualStack,
          rateLimit,
          secretFor: (clientId) => keyStore.secretFor(clientId), // never rejects (exit/keys.ts)
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
          superPackets: options.superPackets,
          closed: () => connections.delete(connection),
        });
        connections.add(connection);
      },
    });
    const port = await server.listen(options.port, options.host);
    cleanups.push(() => {
      for (const connection of connections) connection.shutdown();
      sessions.clear();
      return server.close();
    });
    const listenMetrics = options.metricsListen;
    const metricsServer =
      listenMetrics && listenMetrics !== "off"
        ? await startMetricsServer({
            ...listenMetrics,
            metrics,
            allow: options.metricsAllow ?? [],
            ownAddresses,
            log,
          })
        : undefined;
    if (metricsServer) cleanups.push(() => metricsServer.close());
    const url = `${options.tls ? "https" : "http"}://${options.host}:${port}/`;
    ready = true;
    log.info({ url, tls: Boolean(options.tls), metricsPort: metricsServer?.port }, "exit listening");
    let stopped: Promise<void> | undefined;
    return {
      port,
      metricsPort: metricsServer?.port,
      url,
      metrics,
      sessions,
      accept: (transport, encoding, address) => server.accept(transport, encoding, address, address),
      reloadTls: (pair) => {
        server.reloadTls(pair);
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
