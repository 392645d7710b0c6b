// Looking at the network from inside a namespace: can this host reach that port, what does that DNS
// server answer, is that service listening yet. Each probe is one bounded command in the namespace;
// no ICMP (iputils' ping is not installed on the project's machines), TCP tells the same story:
// "refused" means the peer's kernel answered, "timeout" means the packet went nowhere.
import type { ChildProcess } from "node:child_process";
import { e2eError } from "./errors.js";
import type { NamespaceRef, Topology } from "./topology.js";

/** What a TCP connect attempt saw. */
export type TcpReach = "open" | "refused" | "unreachable" | "timeout";

/** A probe's own bound, on top of its connect timeout: starting Node inside the namespace. */
const NODE_START_ALLOWANCE_MS = 10_000;
/** Between two checks of a listening socket. */
const LISTEN_POLL_INTERVAL_MS = 50;
/** How long waitForListening waits by default. */
export const DEFAULT_READY_TIMEOUT_MS = 15_000;

// Plain CommonJS for `node -e`: no tsx start-up cost for a one-shot probe.
const TCP_PROBE = `
const net = require("node:net");
const [host, port, ms] = process.argv.slice(1);
const say = (s) => { process.stdout.write(s); process.exit(0); };
const socket = net.connect({ host, port: Number(port) });
setTimeout(() => say("timeout"), Number(ms));
socket.on("connect", () => say("open"));
socket.on("error", (e) =>
  say(e.code === "ECONNREFUSED" ? "refused"
    : e.code === "EHOSTUNREACH" || e.code === "ENETUNREACH" ? "unreachable" : "error " + e.code));
`;

const DNS_PROBE = `
const { Resolver } = require("node:dns").promises;
const [server, name, ms] = process.argv.slice(1);
const r = new Resolver({ timeout: Number(ms), tries: 1 });
r.setServers([server]);
r.resolve4(name).then(
  (a) => process.stdout.write(JSON.stringify({ addresses: a })),
  (e) => process.stdout.write(JSON.stringify({ error: e.code })));
`;

/** Tries a TCP connection from inside `ns` to host:port, giving up after timeoutMs. */
export async function probeTcp(
  topology: Topology,
  ns: NamespaceRef,
  host: string,
  port: number,
  timeoutMs = 1_000,
): Promise<TcpReach> {
  const { stdout, stderr } = await topology.exec(
    ns,
    [process.execPath, "-e", TCP_PROBE, host, String(port), String(timeoutMs)],
    { timeoutMs: timeoutMs + NODE_START_ALLOWANCE_MS },
  );
  if (stdout === "open" || stdout === "refused" || stdout === "unreachable" || stdout === "timeout")
    return stdout;
  throw e2eError("E2E_COMMAND_FAILED", `tcp probe to ${host}:${port}: ${stdout}${stderr}`);
}

/**
 * Asks one DNS server, from inside `ns`, for name's A records (no system resolver, no search list).
 * Resolves the addresses, or { error } with the resolver's code (ETIMEOUT, ENOTFOUND, EREFUSED...).
 */
export async function resolveA(
  topology: Topology,
  ns: NamespaceRef,
  server: string,
  name: string,
  timeoutMs = 2_000,
): Promise<{ addresses: string[] } | { error: string }> {
  const { stdout, stderr } = await topology.exec(
    ns,
    [process.execPath, "-e", DNS_PROBE, server, name, String(timeoutMs)],
    { timeoutMs: timeoutMs + NODE_START_ALLOWANCE_MS },
  );
  try {
    return JSON.parse(stdout) as { addresses: string[] } | { error: string };
  } catch {
    throw e2eError("E2E_COMMAND_FAILED", `dns probe for ${name} at ${server}: ${stdout}${stderr}`);
  }
}

export interface ListenWait {
  proto: "tcp" | "udp";
  port: number;
  /** The process that should open the socket: if it exits first, fail at once with its output. */
  child?: ChildProcess;
  timeoutMs?: number;
}

/** Polls `ss` inside `ns` until something listens on the port (bounded), instead of sleeping blindly. */
export async function waitForListening(
  topology: Topology,
  ns: NamespaceRef,
  wait: ListenWait,
): Promise<void> {
  const deadline = Date.now() + (wait.timeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
  const flag = wait.proto === "tcp" ? "-t" : "-u";
  const what = `${wait.proto}/${wait.port} in ${ns}`;
  for (;;) {
    if (wait.child !== undefined && (wait.child.exitCode !== null || wait.child.signalCode !== null)) {
      throw e2eError("E2E_NOT_READY", `${what}: the process exited first:\n${topology.logTail(wait.child)}`);
    }
    const { stdout } = await topology.exec(
      ns,
      ["ss", "-H", "-l", "-n", flag, "sport", "=", `:${wait.port}`],
      {
        timeoutMs: 5_000,
      },
    );
    if (stdout.trim() !== "") return;
    if (Date.now() > deadline) {
      const log = wait.child === undefined ? "" : `:\n${topology.logTail(wait.child)}`;
      throw e2eError("E2E_NOT_READY", `nothing listens on ${what}${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, LISTEN_POLL_INTERVAL_MS));
  }
}
