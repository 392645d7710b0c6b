// The test internet: everything the laptop should reach through the tether, all inside the
// internet namespace at 198.51.100.2: a web server (e2e/internet-server.ts), a DNS server (dnsmasq)
// that knows internet.test and example.test, and an iperf3 server for the benchmarks.
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { e2eError } from "./errors.js";
import { waitForListening } from "./probe.js";
import { ADDR, type NamespaceRef, type Topology } from "./topology.js";

export { expectedSha256, HELLO_HTML, HELLO_TEXT, MAX_PAYLOAD_BYTES } from "./content.js";

export const INTERNET_HTTP_PORT = 80;
export const INTERNET_DNS_PORT = 53;
export const IPERF3_PORT = 5201;
/** Names the internet's DNS answers, all with 198.51.100.2. Anything else is refused. */
export const INTERNET_NAMES = ["internet.test", "example.test"] as const;

const PROJECT_ROOT = fileURLToPath(new URL("..", import.meta.url));
const SERVER_SCRIPT = fileURLToPath(new URL("./internet-server.ts", import.meta.url));
const DNSMASQ = "/usr/sbin/dnsmasq";

export interface InternetOptions {
  /** Start dnsmasq (default true). */
  dns?: boolean;
  /** Start `iperf3 -s` (default true). */
  iperf3?: boolean;
  /** How long each service may take to listen. */
  readyTimeoutMs?: number;
}

export interface ServerStats {
  requests: number;
  bytesServed: number;
}

export interface Internet {
  /** http://198.51.100.2 */
  readonly url: string;
  /** 198.51.100.2, or undefined if dns was off. */
  readonly dnsServer: string | undefined;
  /** Where `iperf3 -c` connects, or undefined if iperf3 was off. */
  readonly iperf3: { host: string; port: number } | undefined;
  readonly processes: { http: ChildProcess; dns?: ChildProcess; iperf3?: ChildProcess };
  /** The web server's counters (asked over HTTP from inside the internet namespace). */
  stats(): Promise<ServerStats>;
  /** Stops the services (destroy() of the topology does too). */
  stop(): Promise<void>;
}

export interface HttpServer {
  readonly url: string;
  readonly process: ChildProcess;
}

/**
 * Starts e2e/internet-server.ts inside any namespace of the topology, bound to host:port, and waits
 * until it listens. The internet uses it at 198.51.100.2:80; a test can put one in the exit too.
 */
export async function startHttpServer(
  topology: Topology,
  ns: NamespaceRef,
  host: string,
  port: number,
  readyTimeoutMs?: number,
): Promise<HttpServer> {
  const child = topology.spawn(
    ns,
    [process.execPath, "--import", "tsx", SERVER_SCRIPT, "--host", host, "--port", String(port)],
    { cwd: PROJECT_ROOT },
  );
  await waitForListening(topology, ns, { proto: "tcp", port, child, timeoutMs: readyTimeoutMs });
  return { url: port === 80 ? `http://${host}` : `http://${host}:${port}`, process: child };
}

export async function startInternet(topology: Topology, opts: InternetOptions = {}): Promise<Internet> {
  const host = ADDR.egress.internet;
  const ns = topology.ns.internet;
  const readyTimeoutMs = opts.readyTimeoutMs;

  const dns =
    opts.dns === false
      ? undefined
      : topology.spawn(ns, [
          DNSMASQ,
          "--no-daemon", // foreground, no pid file, no user switch, no forks
          "--conf-file=/dev/null",
          "--no-resolv",
          "--no-hosts",
          "--bind-interfaces",
          `--listen-address=${host}`,
          `--port=${INTERNET_DNS_PORT}`,
          "--user=root",
          "--pid-file=",
          "--log-facility=-",
          "--log-queries",
          ...INTERNET_NAMES.map((name) => `--address=/${name}/${host}`),
        ]);
  const iperf3 =
    opts.iperf3 === false
      ? undefined
      : topology.spawn(ns, ["iperf3", "-s", "-B", host, "-p", String(IPERF3_PORT)]);
  // Start all, then wait for all: the Node server's start-up dominates.
  const [http] = await Promise.all([
    startHttpServer(topology, ns, host, INTERNET_HTTP_PORT, readyTimeoutMs),
    dns &&
      waitForListening(topology, ns, {
        proto: "udp",
        port: INTERNET_DNS_PORT,
        child: dns,
        timeoutMs: readyTimeoutMs,
      }),
    iperf3 &&
      waitForListening(topology, ns, {
        proto: "tcp",
        port: IPERF3_PORT,
        child: iperf3,
        timeoutMs: readyTimeoutMs,
      }),
  ]);

  const processes: Internet["processes"] = { http: http.process };
  if (dns !== undefined) processes.dns = dns;
  if (iperf3 !== undefined) processes.iperf3 = iperf3;
  return {
    url: http.url,
    dnsServer: dns === undefined ? undefined : host,
    iperf3: iperf3 === undefined ? undefined : { host, port: IPERF3_PORT },
    processes,
    async stats() {
      const { stdout, stderr, code } = await topology.exec(ns, [
        "curl",
        "-sS",
        "--max-time",
        "5",
        `${http.url}/stats`,
      ]);
      if (code !== 0) throw e2eError("E2E_COMMAND_FAILED", `GET /stats: ${stderr.trim()}`);
      return JSON.parse(stdout) as ServerStats;
    },
    async stop() {
      await Promise.all(Object.values(processes).map((child) => topology.kill(child)));
    },
  };
}
