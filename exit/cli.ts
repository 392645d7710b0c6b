#!/usr/bin/env node
// tether-exit: wires flags and environment into startExit, and manages client keys.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { formatClientKey, isValidClientId } from "../protocol/client-key.js";
import { IpError, type Ipv4Cidr, parseIpv4, parseIpv4CidrList, tryParseIpv4 } from "../protocol/ip.js";
import { MAX_PACKETS_PER_FRAME } from "../protocol/limits.js";
import { EXIT_DEFAULTS, type ExitOptions, startExit } from "./exit.js";
import { addKey, loadKeys, revokeKey } from "./keys.js";
import { EXIT_LIMITS, type ExitLimits } from "./limits.js";
import { PoolError, parsePrefix } from "./pool.js";
import { parseMegabits } from "./rate-limit.js";
import { readTls } from "./tls.js";

const HELP = `tether-exit: the internet side of Tether. Serves the phone app and NATs laptops' traffic.

Usage:
  tether-exit [serve] [options]     run the exit (needs root or CAP_NET_ADMIN, and /dev/net/tun)
  tether-exit keys add NAME         create a client key for a laptop; prints it once
  tether-exit keys list             list key names
  tether-exit keys revoke NAME      remove a key

Options (each also as an environment variable, flags win):
  --listen HOST:PORT   where to serve https and the tunnel      TETHER_EXIT_LISTEN   [0.0.0.0:8443]
  --cert FILE          TLS certificate (PEM)                     TETHER_EXIT_CERT
  --tls-key FILE       TLS private key (PEM); without cert and key the exit speaks plain
                       HTTP, for running behind a TLS proxy      TETHER_EXIT_TLS_KEY
  --keys-file FILE     client keys                               TETHER_EXIT_KEYS_FILE [~/.config/tether-exit/keys.json]
  --pool CIDR          addresses for laptops                     TETHER_EXIT_POOL     [10.77.0.0/16]
  --egress IFACE       interface to the internet                 TETHER_EXIT_EGRESS   [the default route's]
  --dns LIST           DNS servers for laptops, comma-separated  TETHER_EXIT_DNS      [this machine's resolvers]
  --mtu BYTES          tunnel MTU                                TETHER_EXIT_MTU      [1400]
  --grace SECONDS      how long a laptop whose phone went away keeps
                       its address and flows                     TETHER_EXIT_GRACE    [120]
  --tun-name NAME      TUN interface name                        TETHER_EXIT_TUN      [tether-exit0]
  --pwa-dir DIR        built phone app to serve                  TETHER_EXIT_PWA_DIR  [dist/pwa of this package]
  --log-level LEVEL    debug, info, warn or error                TETHER_EXIT_LOG_LEVEL [info]
  -h, --help           this text

Tuning (environment only):
  TETHER_MAX_PACKETS_PER_FRAME=N   packets per message at most [512]; 1 turns batching off

Access and abuse limits (the exit is a public server that sends traffic from its own address):
  --allow-egress LIST  CIDRs laptops may reach although the egress guard refuses them by
                       default (the exit's own addresses, 10/8, 172.16/12, 192.168/16,
                       100.64/10, 169.254/16, 127/8, 224/4, 0/8, 240/4)
                                                                 TETHER_EXIT_ALLOW_EGRESS
  --metrics-allow LIST CIDRs that may read /metrics besides this machine and private networks,
                       or "any"                                  TETHER_EXIT_METRICS_ALLOW
  --session-rate-limit MBIT  per session, each way; over it packets are dropped
                                                                 TETHER_EXIT_SESSION_RATE_LIMIT [off]
  --handshake-timeout SECONDS  a laptop must finish its handshake this soon
                                                                 TETHER_EXIT_HANDSHAKE_TIMEOUT [10]
  --max-handshakes N   handshakes in progress at once            TETHER_EXIT_MAX_HANDSHAKES [64]
  --max-sessions N     sessions at once                          TETHER_EXIT_MAX_SESSIONS [1024]
  --max-sessions-per-key N  sessions one client key may hold     TETHER_EXIT_MAX_SESSIONS_PER_KEY [4]
  --failed-handshake-burst N  failed handshakes an address may have before it is refused
                                                                 TETHER_EXIT_FAILED_HANDSHAKE_BURST [10]
  --failed-handshake-interval SECONDS  then one more per this many seconds
                                                                 TETHER_EXIT_FAILED_HANDSHAKE_INTERVAL [6]

Signals: SIGTERM or SIGINT stops (sessions told, nftables table and TUN removed); SIGHUP reloads
the TLS certificate and key from --cert and --tls-key.

Examples:
  tether-exit keys add alice-laptop
  tether-exit --cert /etc/tether/cert.pem --tls-key /etc/tether/key.pem
  TETHER_EXIT_LISTEN=127.0.0.1:8080 tether-exit      # behind a reverse proxy that terminates TLS
`;

class UsageError extends Error {
  override name = "UsageError";
}

/** The folder of this package's package.json, from sources (tsx) or from dist alike. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}
const FLAGS = {
  listen: { type: "string", env: "TETHER_EXIT_LISTEN" },
  cert: { type: "string", env: "TETHER_EXIT_CERT" },
  "tls-key": { type: "string", env: "TETHER_EXIT_TLS_KEY" },
  "keys-file": { type: "string", env: "TETHER_EXIT_KEYS_FILE" },
  pool: { type: "string", env: "TETHER_EXIT_POOL" },
  egress: { type: "string", env: "TETHER_EXIT_EGRESS" },
  dns: { type: "string", env: "TETHER_EXIT_DNS" },
  mtu: { type: "string", env: "TETHER_EXIT_MTU" },
  grace: { type: "string", env: "TETHER_EXIT_GRACE" },
  "tun-name": { type: "string", env: "TETHER_EXIT_TUN" },
  "pwa-dir": { type: "string", env: "TETHER_EXIT_PWA_DIR" },
  "log-level": { type: "string", env: "TETHER_EXIT_LOG_LEVEL" },
  "allow-egress": { type: "string", env: "TETHER_EXIT_ALLOW_EGRESS" },
  "metrics-allow": { type: "string", env: "TETHER_EXIT_METRICS_ALLOW" },
  "session-rate-limit": { type: "string", env: "TETHER_EXIT_SESSION_RATE_LIMIT" },
  "handshake-timeout": { type: "string", env: "TETHER_EXIT_HANDSHAKE_TIMEOUT" },
  "max-handshakes": { type: "string", env: "TETHER_EXIT_MAX_HANDSHAKES" },
  "max-sessions": { type: "string", env: "TETHER_EXIT_MAX_SESSIONS" },
  "max-sessions-per-key": { type: "string", env: "TETHER_EXIT_MAX_SESSIONS_PER_KEY" },
  "failed-handshake-burst": { type: "string", env: "TETHER_EXIT_FAILED_HANDSHAKE_BURST" },
  "failed-handshake-interval": { type: "string", env: "TETHER_EXIT_FAILED_HANDSHAKE_INTERVAL" },
  help: { type: "boolean", short: "h" },
} as const;

type Flag = keyof typeof FLAGS;

function parse(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    options: Object.fromEntries(
      Object.entries(FLAGS).map(([name, spec]) => [
        name,
        { type: spec.type, ...("short" in spec ? { short: spec.short } : {}) },
      ]),
    ) as Record<Flag, { type: "string" | "boolean" }>,
    allowPositionals: true,
    strict: true,
  });
  /** defaults < environment < flags */
  const get = (flag: Flag): string | undefined => {
    const fromFlag = values[flag];
    if (typeof fromFlag === "string") return fromFlag;
    const spec = FLAGS[flag];
    return "env" in spec ? process.env[spec.env] : undefined;
  };
  return { get, help: values.help === true, positionals };
}

function defaultKeysFile(): string {
  const config = process.env.XDG_CONFIG_HOME || join(homedir(), ".config");
  return join(config, "tether-exit", "keys.json");
}

function parseListen(text: string): { host: string; port: number } {
  const match = /^(.*):(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (!match || port > 65535) throw new UsageError(`--listen wants HOST:PORT, like 0.0.0.0:8443: ${text}`);
  return { host: match[1]!.replace(/^\[|\]$/g, "") || "0.0.0.0", port };
}

function parseDnsList(text: string): string[] {
  const servers = text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const server of servers) usingFlag("--dns", () => parseIpv4(server));
  return servers;
}

/** This machine's own resolvers, minus loopback ones a laptop could not reach. */
async function systemResolvers(): Promise<string[]> {
  const text = await readFile("/etc/resolv.conf", "utf8").catch(() => "");
  const servers = [...text.matchAll(/^\s*nameserver\s+(\S+)/gm)]
    .map((m) => m[1]!)
    .filter((s) => tryParseIpv4(s) !== undefined && !s.startsWith("127."));
  return servers.length ? servers.slice(0, 4) : ["1.1.1.1", "9.9.9.9"];
}

/** A whole number of seconds (0 to a day) as ms, or undefined when not given. */
function parseSeconds(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const seconds = Number(text);
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > 86_400) {
    throw new UsageError(`${flag} wants whole seconds from 0 to 86400: ${text}`);
  }
  return seconds * 1000;
}

/** A whole number from 1 to `max`, or the default when not given. */
function parseCount(flag: string, text: string | undefined, fallback: number, max = 1_000_000): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new UsageError(`${flag} wants a whole number from 1 to ${max}: ${text}`);
  }
  return value;
}

/** `parse()`, its IpError or PoolError turned into a usage error that names the flag. */
function usingFlag<T>(flag: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof IpError || error instanceof PoolError)
      throw new UsageError(`${flag}: ${error.message}`);
    throw error;
  }
}

function checkedPool(cidr: string): string {
  usingFlag("--pool", () => parsePrefix(cidr));
  return cidr;
}

/** TETHER_MAX_PACKETS_PER_FRAME: a measurement knob (1 turns batching off). */
function parseMaxPackets(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > MAX_PACKETS_PER_FRAME) {
    throw new UsageError(`TETHER_MAX_PACKETS_PER_FRAME wants 1 to ${MAX_PACKETS_PER_FRAME}: ${text}`);
  }
  return value;
}

function parseMtu(text: string): number {
  const mtu = Number(text);
  if (!Number.isInteger(mtu) || mtu < 576 || mtu > 9000)
    throw new UsageError(`--mtu wants 576 to 9000: ${text}`);
  return mtu;
}

async function options(get: (flag: Flag) => string | undefined): Promise<ExitOptions> {
  const cert = get("cert");
  const tlsKey = get("tls-key");
  if (Boolean(cert) !== Boolean(tlsKey)) throw new UsageError("--cert and --tls-key go together");
  const listen = parseListen(get("listen") ?? `${EXIT_DEFAULTS.host}:${EXIT_DEFAULTS.port}`);
  const dns = get("dns");
  const logLevel = get("log-level") ?? EXIT_DEFAULTS.logLevel;
  if (!["debug", "info", "warn", "error"].includes(logLevel))
    throw new UsageError(`unknown --log-level ${logLevel}`);
  const rate = get("session-rate-limit");
  const sessionRateLimitMbit = rate === undefined ? undefined : parseMegabits(rate);
  if (rate !== undefined && sessionRateLimitMbit === undefined)
    throw new UsageError(`--session-rate-limit wants megabits per second, more than 0: ${rate}`);
  const allowEgress: Ipv4Cidr[] = usingFlag("--allow-egress", () =>
    parseIpv4CidrList(get("allow-egress") ?? "", { bareAddress: true }),
  );
  const metricsText = get("metrics-allow") ?? "";
  const metricsAllow: Ipv4Cidr[] | "any" =
    metricsText.trim() === "any"
      ? "any"
      : usingFlag("--metrics-allow", () => parseIpv4CidrList(metricsText, { bareAddress: true }));
  const limits: ExitLimits = {
    maxHandshakes: parseCount("--max-handshakes", get("max-handshakes"), EXIT_LIMITS.maxHandshakes),
    maxSessions: parseCount("--max-sessions", get("max-sessions"), EXIT_LIMITS.maxSessions),
    maxSessionsPerKey: parseCount(
      "--max-sessions-per-key",
      get("max-sessions-per-key"),
      EXIT_LIMITS.maxSessionsPerKey,
    ),
    failedHandshakeBurst: parseCount(
      "--failed-handshake-burst",
      get("failed-handshake-burst"),
      EXIT_LIMITS.failedHandshakeBurst,
    ),
    failedHandshakeIntervalMs:
      parseCount("--failed-handshake-interval", get("failed-handshake-interval"), 0, 86_400) * 1000 ||
      EXIT_LIMITS.failedHandshakeIntervalMs,
  };
  return {
    ...listen,
    tls: cert && tlsKey ? await readTls({ certFile: cert, keyFile: tlsKey }) : undefined,
    keysFile: get("keys-file") ?? defaultKeysFile(),
    pool: checkedPool(get("pool") ?? EXIT_DEFAULTS.pool),
    egress: get("egress"),
    dns: dns ? parseDnsList(dns) : await systemResolvers(),
    mtu: parseMtu(get("mtu") ?? String(EXIT_DEFAULTS.mtu)),
    tunName: get("tun-name") ?? EXIT_DEFAULTS.tunName,
    pwaDir: get("pwa-dir") ?? join(packageRoot(), "dist", "pwa"),
    keepaliveSeconds: EXIT_DEFAULTS.keepaliveSeconds,
    handshakeTimeoutMs:
      parseCount("--handshake-timeout", get("handshake-timeout"), 0, 3600) * 1000 ||
      EXIT_DEFAULTS.handshakeTimeoutMs,
    limits,
    allowEgress,
    metricsAllow,
    sessionRateLimitMbit,
    graceMs: parseSeconds("--grace", get("grace")) ?? EXIT_DEFAULTS.graceMs,
    maxPacketsPerFrame: parseMaxPackets(process.env.TETHER_MAX_PACKETS_PER_FRAME),
    logLevel,
  };
}

async function keysCommand(args: string[], keysFile: string): Promise<void> {
  const [action, name] = args;
  if (action === "add" && name) {
    if (!isValidClientId(name))
      throw new UsageError(`key name must be 1-64 letters, digits, '.', '_' or '-': ${JSON.stringify(name)}`);
    const key = await addKey(keysFile, name);
    process.stdout.write(
      `Added key "${key.name}" to ${keysFile}. It is shown only this once:\n\n  ${formatClientKey(key.name, key.key)}\n\n` +
        `On the laptop:  npx tether --exit wss://THIS-EXIT:8443 --key ${formatClientKey(key.name, key.key)}\n`,
    );
  } else if (action === "list") {
    const keys = await loadKeys(keysFile);
    if (!keys.length) process.stdout.write(`no keys in ${keysFile}\n`);
    for (const key of keys) process.stdout.write(`${key.name}\tcreated ${key.created}\n`);
  } else if (action === "revoke" && name) {
    if (!(await revokeKey(keysFile, name))) throw new UsageError(`no key named ${name} in ${keysFile}`);
    process.stdout.write(`revoked ${name}\n`);
  } else {
    throw new UsageError("keys wants: add NAME | list | revoke NAME");
  }
}

async function main(argv: string[]): Promise<void> {
  const { get, help, positionals } = parse(argv);
  if (help) {
    process.stdout.write(HELP);
    return;
  }
  const [command = "serve", ...rest] = positionals;
  if (command === "keys") return keysCommand(rest, get("keys-file") ?? defaultKeysFile());
  if (command !== "serve") throw new UsageError(`unknown command ${command}`);
  const exit = await startExit(await options(get));
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`tether-exit: ${signal}, stopping\n`);
    exit.stop().then(
      () => process.exit(0),
      (error) => {
        process.stderr.write(`tether-exit: cleanup failed: ${error}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGHUP", () => {
    const certFile = get("cert");
    const keyFile = get("tls-key");
    if (!certFile || !keyFile) {
      process.stderr.write("tether-exit: SIGHUP: no --cert/--tls-key to reload (plain HTTP)\n");
      return;
    }
    readTls({ certFile, keyFile }).then(
      (pair) => exit.reloadTls(pair),
      (error: Error) =>
        process.stderr.write(`tether-exit: SIGHUP: kept the current certificate: ${error.message}\n`),
    );
  });
  process.on("uncaughtException", (error) => {
    process.stderr.write(`tether-exit: unexpected error: ${error.message}\n`);
    stop("uncaught error");
  });
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  const usage =
    error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
  process.stderr.write(`tether-exit: ${message}${usage ? " (see tether-exit --help)" : ""}\n`);
  process.exit(usage ? 2 : 1);
});
