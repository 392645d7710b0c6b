// IPv6 through the tether, and no IPv6 around it. The topology is dual-stack (e2e/ipv6.ts): the
// laptop's hotspot gives it an IPv6 address and default route, as a phone's router advertisement
// would, but the phone forwards nothing.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../testing/until.js";
import {
  type Exit,
  exitedCode,
  LAPTOP_TUN,
  type Laptop,
  pairPhone,
  startExit,
  startLaptop,
} from "./chain.js";
import { expectedSha256, type Internet, startInternet } from "./internet.js";
import { ADDR6, addIpv6, E2E_POOL6, type Internet6, resolveAaaa, startInternet6 } from "./ipv6.js";
import { canRunPrivileged } from "./privileged.js";
import { createTopology, type NamespaceRef, type Topology } from "./topology.js";

describe.skipIf(!canRunPrivileged)("the dual-stack test network (needs root)", () => {
  let topology: Topology;
  let internet6: Internet6;

  beforeAll(async () => {
    topology = await createTopology({ tag: "v6net", ipv6: true });
    await addIpv6(topology);
    await startInternet(topology, { iperf3: false });
    internet6 = await startInternet6(topology);
  });
  afterAll(async () => {
    await topology?.destroy();
  });

  it("serves the internet over IPv6 to the exit, and answers AAAA for its names", async () => {
    const hello = await topology.exec("exit", [
      "curl",
      "-6",
      "-sS",
      "--max-time",
      "5",
      `${internet6.url}/hello`,
    ]);
    expect(hello.stdout).toContain("hello from the internet");
    const answer = await resolveAaaa(topology, "exit", internet6.dnsServer, "internet.test");
    expect(answer.addresses).toEqual([ADDR6.egress.internet]);
  });

  it("has a hop with a 1280-byte link that answers a bigger packet with Packet Too Big", async () => {
    const ping = await pingPastSmallMtu(topology, "exit");
    expect(ping.stdout).toMatch(/Packet too big: mtu=1280/);
  });

  it("leaves the laptop's IPv6 to a phone that drops it: what the tether must close", async () => {
    const started = Date.now();
    const curl = await topology.exec("laptop", [
      "curl",
      "-6",
      "-sS",
      "--max-time",
      "1",
      `${internet6.url}/hello`,
    ]);
    expect(curl.code).not.toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900); // it waits: nothing says no
  });
});

/** ICMPv6 payload bytes: + 8 ICMPv6 + 40 IPv6 = 1400, the tunnel MTU; the far hop takes 1280. */
const BIG_PING_BYTES = 1352;

/** One ping of BIG_PING_BYTES that may not be fragmented, from `ns` to the host behind the 1280 hop. */
function pingPastSmallMtu(topology: Topology, ns: NamespaceRef) {
  return topology.exec(ns, [
    "ping",
    "-6",
    "-n",
    "-c",
    "1",
    "-W",
    "2",
    "-M",
    "do",
    "-s",
    String(BIG_PING_BYTES),
    ADDR6.smallMtu.host,
  ]);
}

/** The IPv6 file the laptop fetches: thousands of full-size packets each way. */
const FILE_BYTES = 8 * 1024 * 1024;
/** How fast IPv6 must fail with an IPv4-only exit (the bound). */
const FAIL_FAST_MS = 100;

interface State6 {
  routes6: string;
  addresses6: string;
  resolvConf: string;
}

async function state6(topology: Topology): Promise<State6> {
  const run = async (argv: string[]) => (await topology.exec("laptop", argv, { check: true })).stdout;
  return {
    routes6: await run(["ip", "-6", "route", "show", "table", "all"]),
    // Addresses without their lifetimes and counters, which move on their own.
    addresses6: (await run(["ip", "-6", "-o", "addr", "show"])).replace(/\\.*$/gm, ""),
    resolvConf: await run(["cat", "/etc/resolv.conf"]),
  };
}

function metric(text: string, name: string, labels: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(" ").pop()) : 0;
}

/** The internet's IPv6 prefixes are documentation ones, which the IPv6 egress guard refuses by default. */
const EXIT6_ARGS = [
  "--dns",
  ADDR6.egress.internet,
  "--allow-egress",
  `${ADDR6.egress.subnet},${ADDR6.smallMtu.subnet}`,
];

describe.skipIf(!canRunPrivileged)("IPv6 through the tether (needs root)", () => {
  let topology: Topology;
  let internet: Internet;
  let internet6: Internet6;
  let exit: Exit;
  let laptop: Laptop;
  let before: State6;
  let address6: string;

  beforeAll(async () => {
    topology = await createTopology({ tag: "v6", ipv6: true });
    await addIpv6(topology);
    internet = await startInternet(topology, { iperf3: false });
    internet6 = await startInternet6(topology);
    exit = await startExit(topology, [...EXIT6_ARGS, "--pool6", E2E_POOL6]);
    before = await state6(topology);
    laptop = await startLaptop(topology, exit, await exit.addKey("e2e-ipv6"));
    await pairPhone(topology, exit, laptop);
    const addresses = await topology.exec("laptop", [
      "ip",
      "-6",
      "-o",
      "addr",
      "show",
      "dev",
      LAPTOP_TUN,
      "scope",
      "global",
    ]);
    address6 = /inet6 (fd77:e2e::[0-9a-f:]+)\/128/.exec(addresses.stdout)?.[1] ?? "";
  });
  afterAll(async () => {
    await topology?.destroy();
  });

  it("gives the laptop an IPv6 address from the exit and routes ::/1 and 8000::/1 through the TUN", async () => {
    expect(address6).toMatch(/^fd77:e2e::/);
    const routes = (await topology.exec("laptop", ["ip", "-6", "route", "show"])).stdout;
    expect(routes).toMatch(new RegExp(`^::/1 dev ${LAPTOP_TUN} `, "m"));
    expect(routes).toMatch(new RegExp(`^8000::/1 dev ${LAPTOP_TUN} `, "m"));
    expect(routes).toMatch(/^default via 2001:db8:43::1 dev wlan0/m); // the hotspot's stays, unused
    console.log(`[ipv6] laptop ${address6}/128 on ${LAPTOP_TUN}; routes:\n${routes}`);
  });

  it("fetches a file over IPv6 with a matching sha256, through the exit's masquerade", async () => {
    const url = `${internet6.url}/bytes/${FILE_BYTES}?seed=ipv6`;
    const started = Date.now();
    const { stdout, code, stderr } = await topology.exec(
      "laptop",
      ["sh", "-c", `curl -6 -sS --fail --max-time 60 '${url}' | sha256sum`],
      { timeoutMs: 70_000 },
    );
    const seconds = (Date.now() - started) / 1000;
    expect(code, stderr).toBe(0);
    expect(stdout.split(" ")[0]).toBe(expectedSha256(FILE_BYTES, "ipv6"));
    console.log(
      `[ipv6] curl -6 ${FILE_BYTES} bytes in ${seconds.toFixed(2)} s (${((FILE_BYTES * 8) / seconds / 1e6).toFixed(1)} Mbit/s), sha256 ok`,
    );
  });

  it("pings the internet over IPv6", async () => {
    const ping = await topology.exec("laptop", [
      "ping",
      "-6",
      "-n",
      "-c",
      "3",
      "-i",
      "0.2",
      "-W",
      "2",
      ADDR6.egress.internet,
    ]);
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    expect(ping.stdout).toContain("3 received");
    console.log(`[ipv6] ${ping.stdout.trim().split("\n").slice(-2).join("; ")}`);
  });

  it("resolves AAAA names over the IPv6 DNS server the exit announced", async () => {
    const resolvConf = (await topology.exec("laptop", ["cat", "/etc/resolv.conf"])).stdout;
    expect(resolvConf).toMatch(new RegExp(`^nameserver ${ADDR6.egress.internet}$`, "m"));
    const answer = await resolveAaaa(topology, "laptop", ADDR6.egress.internet, "internet.test");
    expect(answer.addresses).toEqual([ADDR6.egress.internet]);
    console.log(
      `[ipv6] AAAA internet.test over [${ADDR6.egress.internet}]:53 -> ${answer.addresses?.join(", ")}`,
    );
  });

  it("gets Packet Too Big back through the exit's NAT, and the laptop's kernel learns the path MTU", async () => {
    const ping = () => pingPastSmallMtu(topology, "laptop");
    const first = await ping();
    expect(first.stdout + first.stderr).toMatch(/Packet too big: mtu=1280/);
    const route = (await topology.exec("laptop", ["ip", "-6", "route", "get", ADDR6.smallMtu.host])).stdout;
    expect(route).toMatch(/mtu 1280/);
    const again = await ping();
    expect(again.stdout + again.stderr).toMatch(/message too long, mtu[:=] ?1280/i);
    console.log(
      `[ipv6] path MTU: ${first.stdout
        .split("\n")
        .find((l) => /too big/i.test(l))
        ?.trim()}; then ${route.trim()}`,
    );
  });

  it("drops and counts IPv6 from an address the exit did not give the laptop", async () => {
    const spoofed = address6.replace(/[0-9a-f]+$/, "99");
    const countOf = async () =>
      metric(await exit.get("/metrics"), "tether_exit_drops_total", 'reason="spoofed_source"');
    await topology.exec("laptop", ["ip", "-6", "addr", "add", `${spoofed}/128`, "dev", LAPTOP_TUN, "nodad"], {
      check: true,
    });
    const dropsBefore = await countOf();
    const ping = await topology.exec("laptop", [
      "ping",
      "-6",
      "-n",
      "-c",
      "3",
      "-i",
      "0.2",
      "-W",
      "1",
      "-I",
      spoofed,
      ADDR6.egress.internet,
    ]);
    await topology.exec("laptop", ["ip", "-6", "addr", "del", `${spoofed}/128`, "dev", LAPTOP_TUN], {
      check: true,
    });
    expect(ping.stdout).toContain("0 received");
    // Counted when they reach the exit, which may be a moment after ping gives up on the last.
    await until(async () => (await countOf()) - dropsBefore >= 1, "spoofed_source drops", 5_000);
    console.log(
      `[ipv6] spoofed ${spoofed}: 0 of 3 pings through, spoofed_source +${(await countOf()) - dropsBefore}`,
    );
  });

  it("keeps the laptop's own link traffic (fe80::/10, ff00::/8) off the tunnel, counted by reason", async () => {
    const drops = async (): Promise<Record<string, number>> =>
      JSON.parse(await readFile(join(laptop.configDir, "status.json"), "utf8")).drops;
    const exitCount = async (reason: string) =>
      metric(await exit.get("/metrics"), "tether_exit_drops_total", `reason="${reason}"`);
    const before = await drops();
    const exitBefore = (await exitCount("egress_link_local")) + (await exitCount("egress_multicast"));
    const ping = (...args: string[]) =>
      topology.exec("laptop", ["ping", "-6", "-n", "-c", "3", "-i", "0.2", "-W", "1", ...args]);
    const linkLocal = "fe80::77:1";
    await topology.exec(
      "laptop",
      ["ip", "-6", "addr", "add", `${linkLocal}/64`, "dev", LAPTOP_TUN, "nodad"],
      {
        check: true,
      },
    );
    const toMulticast = await ping("-I", LAPTOP_TUN, "ff02::1");
    const toLinkLocal = await ping(`fe80::1%${LAPTOP_TUN}`);
    await topology.exec("laptop", ["ip", "-6", "addr", "del", `${linkLocal}/64`, "dev", LAPTOP_TUN], {
      check: true,
    });
    // The laptop's own group membership answers the multicast ping locally; none come from beyond.
    expect(toMulticast.stdout).not.toMatch(/bytes from (?!fe80::77:1%)/);
    expect(toLinkLocal.stdout).toContain("0 received");
    // status.json is rewritten every second.
    await until(
      async () => {
        const now = await drops();
        return (
          (now.ipv6_multicast ?? 0) - (before.ipv6_multicast ?? 0) >= 3 &&
          (now.ipv6_link_local ?? 0) - (before.ipv6_link_local ?? 0) >= 3
        );
      },
      "ipv6_multicast and ipv6_link_local drops in status.json",
      5_000,
    );
    const after = await drops();
    // Never sent: the exit, which would refuse them as egress_link_local/egress_multicast, saw none.
    expect((await exitCount("egress_link_local")) + (await exitCount("egress_multicast"))).toBe(exitBefore);
    console.log(
      `[ipv6] own link traffic kept on the laptop: ipv6_multicast ${before.ipv6_multicast} -> ${after.ipv6_multicast} (what the kernel sent on ${LAPTOP_TUN} by itself before the pings), ipv6_link_local ${before.ipv6_link_local} -> ${after.ipv6_link_local}; at the exit egress_link_local + egress_multicast +0`,
    );
  });

  it("still carries IPv4 beside it", async () => {
    const hello = await topology.exec("laptop", [
      "curl",
      "-4",
      "-sS",
      "--max-time",
      "5",
      `${internet.url}/hello`,
    ]);
    expect(hello.stdout).toContain("hello from the internet");
  });

  it("puts ip -6 route, ip -6 addr and the resolver back as they were when tether gets SIGINT", async () => {
    laptop.process.kill("SIGINT");
    expect(await exitedCode(laptop.process)).toBe(0);
    const after = await state6(topology);
    expect(after).toEqual(before);
    console.log(`[ipv6] after SIGINT: ip -6 route, ip -6 addr and resolv.conf equal the state before start`);
  });
});

describe.skipIf(!canRunPrivileged)("an IPv4-only exit: no IPv6 around the tether (needs root)", () => {
  let topology: Topology;
  let internet: Internet;
  let internet6: Internet6;
  let laptop: Laptop;
  let before: State6;

  beforeAll(async () => {
    topology = await createTopology({ tag: "v4only", ipv6: true });
    await addIpv6(topology);
    internet = await startInternet(topology, { iperf3: false });
    internet6 = await startInternet6(topology);
    const exit = await startExit(topology, [...EXIT6_ARGS, "--pool6", "off"]);
    before = await state6(topology);
    laptop = await startLaptop(topology, exit, await exit.addKey("e2e-v4only"));
    await pairPhone(topology, exit, laptop);
  });
  afterAll(async () => {
    await topology?.destroy();
  });

  it(`makes curl -6 fail in under ${FAIL_FAST_MS} ms while IPv4 works`, async () => {
    const routes = (await topology.exec("laptop", ["ip", "-6", "route", "show"])).stdout;
    expect(routes).toMatch(/^unreachable ::\/1 /m);
    expect(routes).toMatch(/^unreachable 8000::\/1 /m);
    const started = performance.now();
    const curl = await topology.exec("laptop", [
      "curl",
      "-6",
      "-sS",
      "--max-time",
      "5",
      "-o",
      "/dev/null",
      "-w",
      "%{time_total}",
      `${internet6.url}/hello`,
    ]);
    const wallMs = performance.now() - started;
    const curlMs = Number(curl.stdout) * 1000;
    expect(curl.code).not.toBe(0);
    expect(curl.stderr).toMatch(/unreachable|No route to host|Couldn't connect/i);
    expect(curlMs).toBeLessThan(FAIL_FAST_MS);
    const hello = await topology.exec("laptop", [
      "curl",
      "-4",
      "-sS",
      "--max-time",
      "5",
      `${internet.url}/hello`,
    ]);
    expect(hello.stdout).toContain("hello from the internet");
    console.log(
      `[ipv6] IPv4-only exit: curl -6 failed in ${curlMs.toFixed(1)} ms (${wallMs.toFixed(0)} ms with ip netns exec): ${curl.stderr.trim()}; curl -4 ok`,
    );
  });

  it("puts ip -6 route, ip -6 addr and the resolver back as they were when tether gets SIGINT", async () => {
    laptop.process.kill("SIGINT");
    expect(await exitedCode(laptop.process)).toBe(0);
    expect(await state6(topology)).toEqual(before);
  });
});
