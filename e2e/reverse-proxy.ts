// The exit behind a real reverse proxy, as README.md's exit section deploys it: Debian's HAProxy in
// the exit namespace terminates TLS on the carrier address with a test certificate and hands the
// exit, plain HTTP on 127.0.0.1, each connection two ways:
//
//   phone ── TLS :8443 ──> HAProxy (mode http, `option forwardfor`) ── HTTP + X-Forwarded-For ──┐
//   phone ── TLS :8444 ──> HAProxy (mode tcp, `send-proxy-v2`) ─── PROXY v2 header + HTTP ──────┤
//                                              exit `--listen 127.0.0.1:8080 --trusted-proxy 127.0.0.1`
//
// The config, certificate, pid file and log live in a temp dir of the topology; HAProxy runs in
// the foreground (-db) in the topology's process groups, so every exit path of the test kills it
// and removes the dir.
import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadOrCreateCertificate } from "../laptop/certificate.js";
import { BUILT_COMMANDS, ChainError, type Exit, launchExit, recordOutput, requireBuild } from "./chain.js";
import type { Topology } from "./topology.js";

export const HAPROXY = "/usr/sbin/haproxy";
/** The proxy's TLS port for HTTP (X-Forwarded-For), and for TCP with a PROXY v2 header. */
export const PROXY_HTTP_PORT = 8443;
export const PROXY_V2_PORT = 8444;
/** Where the exit listens behind it: loopback of the exit namespace, plain HTTP. */
export const EXIT_BEHIND_PROXY = { host: "127.0.0.1", port: 8080 } as const;
/** How long HAProxy may take to listen on both ports, ms. */
const PROXY_START_TIMEOUT_MS = 10_000;

export interface ReverseProxy {
  process: ChildProcess;
  /** https://carrier-address:8443: HTTP mode, X-Forwarded-For. */
  origin: string;
  /** https://carrier-address:8444: TCP mode, PROXY protocol v2. */
  proxyProtocolOrigin: string;
  /** The SPKI hash of its certificate (what the phone is told to trust). */
  spkiSha256: string;
  /** The config file it runs, as written. */
  config: string;
}

/**
 * The whole config: a proxy for WebSockets (`timeout tunnel`) in front of one server, in the two
 * ways the README names. `option forwardfor` appends the peer's address as a header of its own
 * (a client's X-Forwarded-For stays, to the left of it).
 */
export function haproxyConfig(dir: string, listen: string, exit: string): string {
  return `global
  pidfile ${join(dir, "haproxy.pid")}
  maxconn 256
  log stderr format raw local0 notice

defaults
  log global
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout tunnel 1h
  timeout http-request 10s

frontend tls_http
  mode http
  bind ${listen}:${PROXY_HTTP_PORT} ssl crt ${join(dir, "proxy.pem")}
  option forwardfor
  default_backend exit_http

backend exit_http
  mode http
  server exit ${exit}

frontend tls_proxy_v2
  mode tcp
  bind ${listen}:${PROXY_V2_PORT} ssl crt ${join(dir, "proxy.pem")}
  default_backend exit_proxy_v2

backend exit_proxy_v2
  mode tcp
  server exit ${exit} send-proxy-v2
`;
}

/** Starts HAProxy in the exit namespace on the carrier address; resolves once both ports answer. */
export async function startReverseProxy(topology: Topology): Promise<ReverseProxy> {
  if (!existsSync(HAPROXY)) {
    throw new ChainError(`${HAPROXY} is missing: apt-get install haproxy (.ci/run installs it)`);
  }
  const dir = topology.tempDir("haproxy");
  const address = topology.addr.carrier.exit;
  const certificate = await loadOrCreateCertificate(dir, [address], "proxy");
  // HAProxy takes the certificate and its key in one PEM file (each PEM here ends without a newline).
  const pem = ["proxy-cert.pem", "proxy-key.pem"].map((f) => readFileSync(join(dir, f), "utf8").trim());
  writeFileSync(join(dir, "proxy.pem"), `${pem.join("\n")}\n`, { mode: 0o600 });
  const config = haproxyConfig(dir, address, `${EXIT_BEHIND_PROXY.host}:${EXIT_BEHIND_PROXY.port}`);
  const configFile = join(dir, "haproxy.cfg");
  writeFileSync(configFile, config);
  await topology.exec("exit", [HAPROXY, "-c", "-f", configFile], { check: true });
  const process = recordOutput(topology.spawn("exit", [HAPROXY, "-db", "-f", configFile]));
  const deadline = Date.now() + PROXY_START_TIMEOUT_MS;
  for (;;) {
    const { stdout } = await topology.exec("exit", ["ss", "-Hltn"]);
    const listening = [PROXY_HTTP_PORT, PROXY_V2_PORT].every((port) =>
      stdout.includes(`${address}:${port} `),
    );
    if (listening) break;
    if (process.exitCode !== null || Date.now() > deadline) {
      throw new ChainError(
        `HAProxy is not listening on ${address}:${PROXY_HTTP_PORT}/${PROXY_V2_PORT}:\n${topology.logTail(process)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    process,
    origin: `https://${address}:${PROXY_HTTP_PORT}`,
    proxyProtocolOrigin: `https://${address}:${PROXY_V2_PORT}`,
    spkiSha256: certificate.spkiSha256,
    config,
  };
}

/**
 * The exit as the README runs it behind the proxy: no certificate, plain HTTP on 127.0.0.1,
 * `--trusted-proxy 127.0.0.1`. Its `origin` and certificate are the proxy's: what laptops and
 * phones are given.
 */
export function startExitBehindProxy(
  topology: Topology,
  proxy: ReverseProxy,
  extraArgs: string[] = [],
): Promise<Exit> {
  requireBuild();
  const front = `${EXIT_BEHIND_PROXY.host}:${EXIT_BEHIND_PROXY.port}`;
  return launchExit(topology, {
    dir: topology.tempDir("exit"),
    commands: BUILT_COMMANDS,
    front: ["--listen", front, "--trusted-proxy", EXIT_BEHIND_PROXY.host],
    origin: proxy.origin,
    spkiSha256: proxy.spkiSha256,
    extraArgs,
  });
}

/** The exit's JSON log lines (pino) with this `msg`, parsed. */
export function exitLogLines(output: string, msg: string): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const line of output.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed.msg === msg) lines.push(parsed);
    } catch {
      // not a log line
    }
  }
  return lines;
}
