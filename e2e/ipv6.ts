/**
 * The IPv6 half of the end-to-end network, added to a topology created with `ipv6: true`:
 *
 *   laptop ns                  phone ns                    exit ns                      internet ns
 *   wlan0 2001:db8:43::2/64 == hotspot0 2001:db8:43::1/64  (the carrier stays IPv4)
 *                                                          eth1 2001:db8:e::1/64 ====== eth0 2001:db8:e::2/64
 *   default via 2001:db8:43::1 (as a hotspot's router      default via 2001:db8:e::2    forwarding on, for the
 *   advertisement gives; the phone does not forward)                                    path-MTU hop below
 *
 * The laptop's hotspot route is the leak the tether must close: without it, IPv6 would go to a
 * phone that drops it. The internet namespace also plays a router with a small link behind it:
 * 2001:db8:f::/64 is routed with MTU 1280, so a bigger packet to it gets a Packet Too Big from
 * 2001:db8:e::2 (the packet itself goes nowhere: nothing is at 2001:db8:f::). All documentation
 * addresses (RFC 3849), all inside the topology's namespaces.
 */
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { e2eError } from "./errors.js";
import { INTERNET_NAMES } from "./internet.js";
import { waitForListening } from "./probe.js";
import type { Topology } from "./topology.js";

export const ADDR6 = {
  hotspot: { prefixLength: 64, phone: "2001:db8:43::1", laptop: "2001:db8:43::2" },
  egress: { subnet: "2001:db8:e::/64", prefixLength: 64, exit: "2001:db8:e::1", internet: "2001:db8:e::2" },
  /** Behind the internet's 1280-byte link: for the path-MTU case only. */
  smallMtu: { subnet: "2001:db8:f::/64", host: "2001:db8:f::2", mtu: 1280 },
} as const;

/** The internet's web server on IPv6 (its IPv4 one keeps port 80). */
export const INTERNET6_HTTP_PORT = 8006;
export const INTERNET6_DNS_PORT = 53;
/** The IPv6 pool the e2e exits hand out: unique local, fixed so the tests can name addresses. */
export const E2E_POOL6 = "fd77:e2e::/64";

const PROJECT_ROOT = fileURLToPath(new URL("..", import.meta.url));
const SERVER_SCRIPT = fileURLToPath(new URL("./internet-server.ts", import.meta.url));
const DNSMASQ = "/usr/sbin/dnsmasq";

async function sh(topology: Topology, role: "laptop" | "phone" | "exit" | "internet", script: string[]) {
  await topology.exec(role, ["sh", "-ec", script.join("\n")], { timeoutMs: 10_000, check: true });
}

// Plain CommonJS for `node -e`, like e2e/probe.ts's probes.
const AAAA_PROBE = `
const { Resolver } = require("node:dns").promises;
const [server, name, ms] = process.argv.slice(1);
const r = new Resolver({ timeout: Number(ms), tries: 1 });
r.setServers([server]);
r.resolve6(name).then(
  (a) => process.stdout.write(JSON.stringify({ addresses: a })),
  (e) => process.stdout.write(JSON.stringify({ error: e.code })));
`;
/** Bound on the IPv6 DNS server's start, and on one AAAA question. */
const DNS_READY_TIMEOUT_MS = 15_000;
const DNS_QUESTION_TIMEOUT_MS = 1_000;

/** Asks `server` for the AAAA records of `name` from inside `ns`: the addresses, or the error code. */
export async function resolveAaaa(
  topology: Topology,
  ns: string,
  server: string,
  name: string,
): Promise<{ addresses?: string[]; error?: string }> {
  const { stdout } = await topology.exec(
    ns,
    [process.execPath, "-e", AAAA_PROBE, server, name, String(DNS_QUESTION_TIMEOUT_MS)],
    { timeoutMs: DNS_QUESTION_TIMEOUT_MS + 10_000 },
  );
  return JSON.parse(stdout || "{}") as { addresses?: string[]; error?: string };
}

async function waitForAnswer(topology: Topology, server: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + DNS_READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw e2eError("E2E_NOT_READY", `the IPv6 dnsmasq exited:\n${topology.logTail(child)}`);
    }
    const answer = await resolveAaaa(topology, "internet", server, INTERNET_NAMES[0]);
    if (answer.addresses?.length) return;
    if (Date.now() > deadline) {
      throw e2eError("E2E_NOT_READY", `no AAAA answer from ${server}:\n${topology.logTail(child)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Duplicate address detection takes about a second per address (RFC 4862); this is ample. */
const DAD_TIMEOUT_MS = 15_000;

/** Waits until no IPv6 address in `ns` is tentative (still being checked for duplicates). */
async function settled(topology: Topology, ns: "laptop" | "phone" | "exit" | "internet"): Promise<void> {
  const deadline = Date.now() + DAD_TIMEOUT_MS;
  for (;;) {
    const { stdout } = await topology.exec(ns, ["ip", "-6", "-o", "addr", "show", "tentative"], {
      check: true,
    });
    if (stdout.trim() === "") return;
    if (Date.now() > deadline) {
      throw e2eError(
        "E2E_NOT_READY",
        `IPv6 addresses still tentative in ${ns} after ${DAD_TIMEOUT_MS} ms:\n${stdout}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Adds the IPv6 addresses, routes and forwarding above. The topology must keep IPv6 on. */
export async function addIpv6(topology: Topology): Promise<void> {
  const { ifname } = topology;
  // nodad: the addresses are usable at once (nobody else is on these links to have them).
  await sh(topology, "laptop", [
    `ip -6 addr add ${ADDR6.hotspot.laptop}/${ADDR6.hotspot.prefixLength} dev ${ifname.laptop.hotspot} nodad`,
    `ip -6 route add default via ${ADDR6.hotspot.phone} dev ${ifname.laptop.hotspot}`,
  ]);
  await sh(topology, "phone", [
    `ip -6 addr add ${ADDR6.hotspot.phone}/${ADDR6.hotspot.prefixLength} dev ${ifname.phone.hotspot} nodad`,
    "echo 0 > /proc/sys/net/ipv6/conf/all/forwarding",
  ]);
  await sh(topology, "exit", [
    `ip -6 addr add ${ADDR6.egress.exit}/${ADDR6.egress.prefixLength} dev ${ifname.exit.egress} nodad`,
    `ip -6 route add default via ${ADDR6.egress.internet} dev ${ifname.exit.egress}`,
  ]);
  await sh(topology, "internet", [
    `ip -6 addr add ${ADDR6.egress.internet}/${ADDR6.egress.prefixLength} dev ${ifname.internet.egress} nodad`,
    "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding",
    // Forwarding on makes it a router; this route is its small link (blackholed past the MTU check).
    `ip -6 route add ${ADDR6.smallMtu.subnet} dev ${ifname.internet.egress} mtu ${ADDR6.smallMtu.mtu}`,
  ]);
  // The kernel's own link-local addresses finish duplicate address detection a second or two
  // after their link came up (then they lose "tentative" and gain a local route). Tests compare
  // the laptop's IPv6 state before and after tether: it must have settled before "before".
  await settled(topology, "laptop");
  // The internet has no route to the exit's pool: only the exit's masquerade gets replies home.
  const routes = await topology.exec("internet", ["ip", "-6", "route", "show"], { check: true });
  if (/fd77/.test(routes.stdout))
    throw e2eError("E2E_COMMAND_FAILED", "the internet must not route the pool");
}

export interface Internet6 {
  /** http://[2001:db8:e::2]:8006 */
  readonly url: string;
  /** 2001:db8:e::2: answers A and AAAA for INTERNET_NAMES. */
  readonly dnsServer: string;
  readonly processes: { http: ChildProcess; dns: ChildProcess };
}

/** The internet's web and DNS servers on its IPv6 address (beside startInternet's IPv4 ones). */
export async function startInternet6(topology: Topology): Promise<Internet6> {
  const host = ADDR6.egress.internet;
  const dns = topology.spawn("internet", [
    DNSMASQ,
    "--no-daemon",
    "--conf-file=/dev/null",
    "--no-resolv",
    "--no-hosts",
    "--bind-interfaces",
    `--listen-address=${host}`,
    `--port=${INTERNET6_DNS_PORT}`,
    "--user=root",
    "--pid-file=",
    "--log-facility=-",
    "--log-queries",
    ...INTERNET_NAMES.flatMap((name) => [
      `--address=/${name}/${topology.addr.egress.internet}`,
      `--address=/${name}/${host}`,
    ]),
  ]);
  const http = topology.spawn(
    "internet",
    [
      process.execPath,
      "--import",
      "tsx",
      SERVER_SCRIPT,
      "--host",
      host,
      "--port",
      String(INTERNET6_HTTP_PORT),
    ],
    { cwd: PROJECT_ROOT },
  );
  await Promise.all([
    waitForListening(topology, "internet", { proto: "tcp", port: INTERNET6_HTTP_PORT, child: http }),
    // The IPv4 dnsmasq holds port 53 too, so a listening socket says nothing: ask until it answers.
    waitForAnswer(topology, host, dns),
  ]);
  return { url: `http://[${host}]:${INTERNET6_HTTP_PORT}`, dnsServer: host, processes: { http, dns } };
}
