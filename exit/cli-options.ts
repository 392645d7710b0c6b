// The exit's settings: one option table (cli/options.ts) from which its flags, its environment
// and its --help come, and the conversion of the merged settings into startExit's options.
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { UsageError } from "../cli/errors.js";
import { list, text, toggle, type Values } from "../cli/options.js";
import { packageRoot } from "../cli/package.js";
import {
  hostPort,
  integer,
  interfaceName,
  ipAddresses,
  ipv4Prefixes,
  nonEmpty,
  oneOf,
  url,
} from "../cli/values.js";
import {
  type Cidr,
  type Ipv4Cidr,
  type Ipv6Cidr,
  parseCidrList,
  tryParseIp,
  tryParseIpv4,
} from "../protocol/ip.js";
import { MAX_PACKETS_PER_FRAME } from "../protocol/limits.js";
import { EXIT_DEFAULTS, type ExitOptions } from "./exit.js";
import { POOL6_OFF } from "./ipv6-plan.js";
import { EXIT_LIMITS, MAX_CONNECTIONS_PER_SOURCE, MAX_HANDSHAKES_PER_SOURCE } from "./limits.js";
import { METRICS_LISTEN_DEFAULT } from "./metrics-server.js";
import { parsePrefix } from "./pool.js";
import { parsePrefix6 } from "./pool6.js";
import { parseMegabits } from "./rate-limit.js";
import { readTls, TlsError } from "./tls.js";

/** Smallest tunnel MTU: what every IPv4 host must accept (RFC 791). */
const MIN_TUNNEL_MTU = 576;
/** Largest tunnel MTU: jumbo frames; beyond it DATA frames and buffers grow for nothing. */
const MAX_TUNNEL_MTU = 9000;
const HOUR_SECONDS = 3600;
const DAY_SECONDS = 86_400;
const seconds = (max: number) => {
  const whole = integer(0, max);
  return (text: string, where: string) => whole(text, where) * 1000;
};
const positiveSeconds = (max: number) => {
  const whole = integer(1, max);
  return (text: string, where: string) => whole(text, where) * 1000;
};
const count = (max = 1_000_000) => integer(1, max);

export function defaultKeysFile(): string {
  const config = process.env.XDG_CONFIG_HOME || join(homedir(), ".config");
  return join(config, "tether-exit", "keys.json");
}

function megabits(text: string, where: string): number {
  const value = parseMegabits(text);
  if (value === undefined)
    throw new UsageError("USAGE_BAD_VALUE", `${where} wants megabits per second, more than 0: ${text}`);
  return value;
}

function poolPrefix(text: string): string {
  parsePrefix(text);
  return text;
}

function pool6Prefix(text: string): string {
  if (text !== POOL6_OFF) parsePrefix6(text);
  return text;
}

/** Prefixes or bare addresses of either family (a bare address is a host prefix). */
function ipPrefixes(items: string[]): Cidr[] {
  return parseCidrList(items.join(","), { bareAddress: true });
}

const ofFamily4 = (cidrs: Cidr[] | undefined) => cidrs?.filter((c): c is Ipv4Cidr => c.family === 4);
const ofFamily6 = (cidrs: Cidr[] | undefined) => cidrs?.filter((c): c is Ipv6Cidr => c.family === 6);

function metricsAllowList(items: string[]): Ipv4Cidr[] | "any" {
  return items.length === 1 && items[0] === "any" ? "any" : ipv4Prefixes(items);
}

const LIMITS =
  "Access and abuse limits (the exit is a public server that sends traffic from its own address)";

/** Every setting of `tether-exit`: its flag, variable, parser, default and help line. */
export const EXIT_OPTIONS = {
  listen: text({
    flag: "listen",
    env: "TETHER_EXIT_LISTEN",
    value: "HOST:PORT",
    help: "where to serve https and the tunnel",
    default: { host: EXIT_DEFAULTS.host, port: EXIT_DEFAULTS.port },
    defaultHelp: `${EXIT_DEFAULTS.host}:${EXIT_DEFAULTS.port}`,
    parse: hostPort,
  }),
  publicUrl: text({
    flag: "public-url",
    env: "TETHER_EXIT_PUBLIC_URL",
    value: "URL",
    help: "where laptops and phones reach this exit, wss://NAME[:PORT]: for the laptop command `keys add` prints, and checked against the certificate",
    defaultHelp: "wss:// the certificate's name",
    parse: url(["wss:", "https:"], "wss://exit.example.com:8443"),
  }),
  cert: text({
    flag: "cert",
    env: "TETHER_EXIT_CERT",
    value: "FILE",
    help: "TLS certificate (PEM)",
    parse: nonEmpty,
  }),
  tlsKey: text({
    flag: "tls-key",
    env: "TETHER_EXIT_TLS_KEY",
    value: "FILE",
    help: "TLS private key (PEM); without cert and key the exit speaks plain HTTP, for running behind a TLS proxy",
    parse: nonEmpty,
  }),
  keysFile: text({
    flag: "keys-file",
    env: "TETHER_EXIT_KEYS_FILE",
    value: "FILE",
    help: "client keys",
    defaultHelp: "~/.config/tether-exit/keys.json",
    parse: nonEmpty,
  }),
  pool: text({
    flag: "pool",
    env: "TETHER_EXIT_POOL",
    value: "CIDR",
    help: "addresses for laptops, an IPv4 prefix from /12 to /30",
    default: EXIT_DEFAULTS.pool,
    parse: poolPrefix,
  }),
  pool6: text({
    flag: "pool6",
    env: "TETHER_EXIT_POOL6",
    value: "CIDR",
    help: 'IPv6 prefix for laptops, /64 to /126, masqueraded; "off": an IPv4-only exit',
    defaultHelp: "a random unique-local /64",
    parse: pool6Prefix,
  }),
  pool6Routed: toggle({
    flag: "pool6-routed",
    env: "TETHER_EXIT_POOL6_ROUTED",
    help: "the --pool6 prefix is routed to this host: laptops' IPv6 addresses go out untranslated",
  }),
  egress: text({
    flag: "egress",
    env: "TETHER_EXIT_EGRESS",
    value: "IFACE",
    help: "interface to the internet",
    defaultHelp: "the default route's",
    parse: interfaceName,
  }),
  dns: list({
    flag: "dns",
    env: "TETHER_EXIT_DNS",
    value: "LIST",
    help: "DNS servers for laptops, IPv4 and IPv6, comma-separated",
    defaultHelp: "this machine's resolvers",
    parse: ipAddresses,
  }),
  mtu: text({
    flag: "mtu",
    env: "TETHER_EXIT_MTU",
    value: "BYTES",
    help: "tunnel MTU",
    default: EXIT_DEFAULTS.mtu,
    parse: integer(MIN_TUNNEL_MTU, MAX_TUNNEL_MTU),
  }),
  graceMs: text({
    flag: "grace",
    env: "TETHER_EXIT_GRACE",
    value: "SECONDS",
    help: "how long a laptop whose phone went away keeps its address and flows",
    default: EXIT_DEFAULTS.graceMs,
    defaultHelp: String(EXIT_DEFAULTS.graceMs / 1000),
    parse: seconds(DAY_SECONDS),
  }),
  tunName: text({
    flag: "tun-name",
    env: "TETHER_EXIT_TUN",
    value: "NAME",
    help: "TUN interface name",
    default: EXIT_DEFAULTS.tunName,
    parse: interfaceName,
  }),
  pwaDir: text({
    flag: "pwa-dir",
    env: "TETHER_EXIT_PWA_DIR",
    value: "DIR",
    help: "built phone app to serve",
    defaultHelp: "dist/pwa of this package",
    parse: nonEmpty,
  }),
  logLevel: text({
    flag: "log-level",
    env: "TETHER_EXIT_LOG_LEVEL",
    value: "LEVEL",
    help: "debug, info, warn or error",
    default: EXIT_DEFAULTS.logLevel,
    parse: oneOf("debug", "info", "warn", "error"),
  }),
  maxPacketsPerFrame: text({
    env: "TETHER_MAX_PACKETS_PER_FRAME",
    value: "N",
    help: "packets per message at most; 1 turns batching off",
    defaultHelp: String(MAX_PACKETS_PER_FRAME),
    parse: integer(1, MAX_PACKETS_PER_FRAME),
  }),
  allowEgress: list({
    group: LIMITS,
    flag: "allow-egress",
    env: "TETHER_EXIT_ALLOW_EGRESS",
    value: "LIST",
    help:
      "CIDRs laptops may reach although the egress guard refuses them by default (the exit's own " +
      "addresses, 10/8, 172.16/12, 192.168/16, 100.64/10, 169.254/16, 127/8, 224/4, 0/8, 240/4)",
    default: [],
    parse: ipPrefixes,
  }),
  denyEgress: list({
    group: LIMITS,
    flag: "deny-egress",
    env: "TETHER_EXIT_DENY_EGRESS",
    value: "LIST",
    help: "CIDRs laptops may not reach, whatever --allow-egress says",
    default: [],
    parse: ipPrefixes,
  }),
  publicAddresses: list({
    group: LIMITS,
    flag: "public-address",
    env: "TETHER_EXIT_PUBLIC_ADDRESS",
    value: "LIST",
    help: "addresses this exit is reached at but has on no interface (1:1 NAT, a Docker host), refused as destinations like its own",
    default: [],
    parse: ipAddresses,
  }),
  metricsAllow: list({
    group: LIMITS,
    flag: "metrics-allow",
    env: "TETHER_EXIT_METRICS_ALLOW",
    value: "LIST",
    help: 'CIDRs that may read /metrics besides this machine and private networks, or "any"',
    default: [],
    parse: metricsAllowList,
  }),
  metricsListen: text({
    group: LIMITS,
    flag: "metrics-listen",
    env: "TETHER_EXIT_METRICS_LISTEN",
    value: "HOST:PORT",
    help: 'where to serve /metrics, on a listener of its own (never the public port), or "off"',
    default: METRICS_LISTEN_DEFAULT as { host: string; port: number } | "off",
    defaultHelp: `${METRICS_LISTEN_DEFAULT.host}:${METRICS_LISTEN_DEFAULT.port}`,
    parse: (text: string, where: string) => (text === "off" ? ("off" as const) : hostPort(text, where)),
  }),
  trustedProxy: list({
    group: LIMITS,
    flag: "trusted-proxy",
    env: "TETHER_EXIT_TRUSTED_PROXY",
    value: "LIST",
    help: "CIDRs of reverse proxies in front of this exit: from them only, a PROXY protocol header (v1/v2) or X-Forwarded-For names the client for limits and logs",
    default: [],
    parse: ipPrefixes,
  }),
  sessionRateLimitMbit: text({
    group: LIMITS,
    flag: "session-rate-limit",
    env: "TETHER_EXIT_SESSION_RATE_LIMIT",
    value: "MBIT",
    help: "per session, each way; over it packets are dropped",
    defaultHelp: "off",
    parse: megabits,
  }),
  handshakeTimeoutMs: text({
    group: LIMITS,
    flag: "handshake-timeout",
    env: "TETHER_EXIT_HANDSHAKE_TIMEOUT",
    value: "SECONDS",
    help: "a laptop must finish its handshake this soon",
    default: EXIT_DEFAULTS.handshakeTimeoutMs,
    defaultHelp: String(EXIT_DEFAULTS.handshakeTimeoutMs / 1000),
    parse: positiveSeconds(HOUR_SECONDS),
  }),
  maxHandshakes: text({
    group: LIMITS,
    flag: "max-handshakes",
    env: "TETHER_EXIT_MAX_HANDSHAKES",
    value: "N",
    help: "handshakes in progress at once",
    default: EXIT_LIMITS.maxHandshakes,
    parse: count(),
  }),
  maxHandshakesPerSource: text({
    group: LIMITS,
    flag: "max-handshakes-per-source",
    env: "TETHER_EXIT_MAX_HANDSHAKES_PER_SOURCE",
    value: "N",
    help: "handshakes in progress at once from one address (IPv6: one /64); keep it below --max-handshakes",
    default: MAX_HANDSHAKES_PER_SOURCE,
    parse: count(),
  }),
  maxConnectionsPerSource: text({
    group: LIMITS,
    flag: "max-connections-per-source",
    env: "TETHER_EXIT_MAX_CONNECTIONS_PER_SOURCE",
    value: "N",
    help: "connections without a session at once from one address (IPv6: one /64)",
    default: MAX_CONNECTIONS_PER_SOURCE,
    parse: count(),
  }),
  maxSessions: text({
    group: LIMITS,
    flag: "max-sessions",
    env: "TETHER_EXIT_MAX_SESSIONS",
    value: "N",
    help: "sessions at once",
    default: EXIT_LIMITS.maxSessions,
    parse: count(),
  }),
  maxSessionsPerKey: text({
    group: LIMITS,
    flag: "max-sessions-per-key",
    env: "TETHER_EXIT_MAX_SESSIONS_PER_KEY",
    value: "N",
    help: "sessions one client key may hold",
    default: EXIT_LIMITS.maxSessionsPerKey,
    parse: count(),
  }),
  failedHandshakeBurst: text({
    group: LIMITS,
    flag: "failed-handshake-burst",
    env: "TETHER_EXIT_FAILED_HANDSHAKE_BURST",
    value: "N",
    help: "failed handshakes an address may have before it is refused",
    default: EXIT_LIMITS.failedHandshakeBurst,
    parse: count(),
  }),
  failedHandshakeIntervalMs: text({
    group: LIMITS,
    flag: "failed-handshake-interval",
    env: "TETHER_EXIT_FAILED_HANDSHAKE_INTERVAL",
    value: "SECONDS",
    help: "then one more per this many seconds",
    default: EXIT_LIMITS.failedHandshakeIntervalMs,
    defaultHelp: String(EXIT_LIMITS.failedHandshakeIntervalMs / 1000),
    parse: positiveSeconds(DAY_SECONDS),
  }),
};

export type ExitSettings = Partial<Values<typeof EXIT_OPTIONS>>;

/** This machine's own resolvers, minus loopback ones a laptop could not reach. */
async function systemResolvers(): Promise<string[]> {
  const text = await readFile("/etc/resolv.conf", "utf8").catch(() => "");
  const servers = [...text.matchAll(/^\s*nameserver\s+(\S+)/gm)]
    .map((m) => m[1]!)
    .filter((s) => {
      if (tryParseIpv4(s) !== undefined) return !s.startsWith("127.");
      // IPv6: not loopback, and not link-local (a zone a laptop's end of the tunnel does not have).
      return tryParseIp(s) !== undefined && s !== "::1" && !/^fe[89ab]/i.test(s);
    });
  return servers.some((s) => tryParseIpv4(s) !== undefined) ? servers : ["1.1.1.1", "9.9.9.9", ...servers];
}

/** A TLS pair that does not load is the operator's to fix: a usage error that keeps TlsError's code. */
async function usageOnFailure<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof TlsError) throw new UsageError(error.code, error.message);
    throw error;
  }
}
/** WELCOME announces at most this many servers of each family. */
const MAX_DNS_PER_FAMILY = 4;

/** The settings (defaults < environment < flags, already merged) as startExit's options. */
export async function exitOptions(settings: ExitSettings): Promise<ExitOptions> {
  const { cert, tlsKey } = settings;
  if (Boolean(cert) !== Boolean(tlsKey))
    throw new UsageError("USAGE_CONFLICT", "--cert and --tls-key go together");
  const listen = settings.listen ?? EXIT_OPTIONS.listen.default!;
  const dns = settings.dns?.length ? settings.dns : await systemResolvers();
  return {
    host: listen.host,
    port: listen.port,
    tls:
      cert && tlsKey ? await usageOnFailure(() => readTls({ certFile: cert, keyFile: tlsKey })) : undefined,
    keysFile: settings.keysFile ?? defaultKeysFile(),
    pool: settings.pool ?? EXIT_DEFAULTS.pool,
    egress: settings.egress,
    dns: dns.filter((s) => tryParseIpv4(s) !== undefined).slice(0, MAX_DNS_PER_FAMILY),
    dns6: dns.filter((s) => tryParseIpv4(s) === undefined).slice(0, MAX_DNS_PER_FAMILY),
    pool6: settings.pool6,
    pool6Routed: settings.pool6Routed,
    mtu: settings.mtu ?? EXIT_DEFAULTS.mtu,
    tunName: settings.tunName ?? EXIT_DEFAULTS.tunName,
    pwaDir: settings.pwaDir ?? join(packageRoot(), "dist", "pwa"),
    keepaliveSeconds: EXIT_DEFAULTS.keepaliveSeconds,
    handshakeTimeoutMs: settings.handshakeTimeoutMs ?? EXIT_DEFAULTS.handshakeTimeoutMs,
    limits: {
      maxHandshakes: settings.maxHandshakes ?? EXIT_LIMITS.maxHandshakes,
      maxHandshakesPerSource: settings.maxHandshakesPerSource ?? MAX_HANDSHAKES_PER_SOURCE,
      maxConnectionsPerSource: settings.maxConnectionsPerSource ?? MAX_CONNECTIONS_PER_SOURCE,
      maxSessions: settings.maxSessions ?? EXIT_LIMITS.maxSessions,
      maxSessionsPerKey: settings.maxSessionsPerKey ?? EXIT_LIMITS.maxSessionsPerKey,
      failedHandshakeBurst: settings.failedHandshakeBurst ?? EXIT_LIMITS.failedHandshakeBurst,
      failedHandshakeIntervalMs: settings.failedHandshakeIntervalMs ?? EXIT_LIMITS.failedHandshakeIntervalMs,
    },
    allowEgress: ofFamily4(settings.allowEgress),
    denyEgress: ofFamily4(settings.denyEgress),
    allowEgress6: ofFamily6(settings.allowEgress),
    denyEgress6: ofFamily6(settings.denyEgress),
    publicAddresses: settings.publicAddresses,
    metricsAllow: settings.metricsAllow,
    metricsListen: settings.metricsListen ?? METRICS_LISTEN_DEFAULT,
    trustedProxies: settings.trustedProxy,
    sessionRateLimitMbit: settings.sessionRateLimitMbit,
    graceMs: settings.graceMs ?? EXIT_DEFAULTS.graceMs,
    maxPacketsPerFrame: settings.maxPacketsPerFrame,
    logLevel: settings.logLevel ?? EXIT_DEFAULTS.logLevel,
  };
}
