// IPv6 through the tether, and no IPv6 around it. The topology is dual-stack (e2e/ipv6.ts): the
// laptop's hotspot gives it an IPv6 address and default route, as a phone's router advertisement
// would, but the phone forwards nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startInternet } from "./internet.js";
import { ADDR6, addIpv6, type Internet6, resolveAaaa, startInternet6 } from "./ipv6.js";
import { canRunPrivileged } from "./privileged.js";
import { createTopology, type Topology } from "./topology.js";

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
    const ping = await topology.exec("exit", [
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
      "1352",
      ADDR6.smallMtu.host,
    ]);
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
