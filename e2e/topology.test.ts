import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchPhoneBrowser } from "./chromium-netns.js";
import { expectedSha256, HELLO_TEXT, type Internet, startHttpServer, startInternet } from "./internet.js";
import { probeTcp, resolveA } from "./probe.js";
import {
  ADDR,
  createTopology,
  isProcessAlive,
  listNamespaces,
  ROLES,
  runBounded,
  type Topology,
} from "./topology.js";

const isRoot = process.getuid?.() === 0;
const mustRun = process.env.TETHER_REQUIRE_PRIVILEGED === "1";
/** A port nothing listens on: a connection to it is refused by the host's kernel, proving reachability. */
const CLOSED_PORT = 9;

function readIfExists(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, "utf8") : undefined;
}

describe.skipIf(!isRoot && !mustRun)("the e2e topology (needs root)", () => {
  let topo: Topology;
  let internet: Internet;
  const machineResolvConf = readIfExists("/etc/resolv.conf");

  beforeAll(async () => {
    topo = await createTopology();
    internet = await startInternet(topo);
  });

  afterAll(async () => {
    await topo?.destroy();
  });

  it("creates four namespaces named tth<pid>-*", async () => {
    expect(topo.ns).toEqual({
      laptop: `tth${process.pid}-laptop`,
      phone: `tth${process.pid}-phone`,
      exit: `tth${process.pid}-exit`,
      internet: `tth${process.pid}-inet`,
    });
    const names = await listNamespaces();
    for (const role of ROLES) expect(names).toContain(topo.ns[role]);
  });

  it("lets the laptop reach the phone over the hotspot", async () => {
    const { stdout } = await topo.exec("laptop", ["ip", "-4", "-o", "addr", "show", "dev", "wlan0"]);
    expect(stdout).toContain(`${ADDR.hotspot.laptop}/24`);
    expect(await probeTcp(topo, "laptop", ADDR.hotspot.phone, CLOSED_PORT)).toBe("refused");
  });

  it("keeps the laptop off the carrier and the internet: the phone does not forward", async () => {
    expect((await topo.exec("phone", ["cat", "/proc/sys/net/ipv4/ip_forward"])).stdout.trim()).toBe("0");
    const [toInternet, toExit] = await Promise.all([
      probeTcp(topo, "laptop", ADDR.egress.internet, 80, 1_000),
      probeTcp(topo, "laptop", ADDR.carrier.exit, CLOSED_PORT, 1_000),
    ]);
    expect(toInternet).toBe("timeout");
    expect(toExit).toBe("timeout");
  });

  it("lets the phone reach the exit over the carrier link", async () => {
    expect(await probeTcp(topo, "phone", ADDR.carrier.exit, CLOSED_PORT)).toBe("refused");
  });

  it("gives the internet no route back, so the phone gets no answer from it without the exit's NAT", async () => {
    expect((await topo.exec("exit", ["cat", "/proc/sys/net/ipv4/ip_forward"])).stdout.trim()).toBe("1");
    const routes = (await topo.exec("internet", ["ip", "-4", "route"])).stdout;
    expect(routes.trim().split("\n")).toEqual([expect.stringMatching(/^198\.51\.100\.0\/24 dev eth0 /)]);
    expect(await probeTcp(topo, "phone", ADDR.egress.internet, 80, 1_000)).toBe("timeout");
  });

  it("serves /hello to the exit", async () => {
    const { stdout, code } = await topo.exec("exit", [
      "curl",
      "-sS",
      "--max-time",
      "5",
      `${internet.url}/hello`,
    ]);
    expect(code).toBe(0);
    expect(stdout).toBe(HELLO_TEXT);
  });

  it("streams /bytes/<N> that hash to expectedSha256 and counts the bytes served", async () => {
    const n = 3 * 1024 * 1024 + 123;
    const before = await internet.stats();
    const { stdout, code, stderr } = await topo.exec("exit", [
      "bash",
      "-o",
      "pipefail",
      "-c",
      `curl -sS --max-time 20 '${internet.url}/bytes/${n}?seed=topology' | sha256sum`,
    ]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout.split(" ")[0]).toBe(expectedSha256(n, "topology"));
    expect(expectedSha256(n, "other")).not.toBe(expectedSha256(n, "topology"));
    const after = await internet.stats();
    expect(after.requests - before.requests).toBe(1);
    expect(after.bytesServed - before.bytesServed).toBe(n);
  });

  it("answers internet.test from the internet's dnsmasq, and refuses other names", async () => {
    expect(internet.dnsServer).toBe(ADDR.egress.internet);
    expect(await resolveA(topo, "exit", ADDR.egress.internet, "internet.test")).toEqual({
      addresses: [ADDR.egress.internet],
    });
    expect(await resolveA(topo, "exit", ADDR.egress.internet, "www.example.test")).toEqual({
      addresses: [ADDR.egress.internet],
    });
    expect(await resolveA(topo, "exit", ADDR.egress.internet, "elsewhere.invalid")).toHaveProperty("error");
  });

  it("gives the laptop a silent hotspot resolver of its own and leaves the machine's alone", async () => {
    expect(topo.laptopResolvConf).toBe(`/etc/netns/${topo.ns.laptop}/resolv.conf`);
    const { stdout } = await topo.exec("laptop", ["cat", "/etc/resolv.conf"]);
    expect(stdout).toBe(`nameserver ${ADDR.hotspot.phone}\n`);
    expect(await resolveA(topo, "laptop", ADDR.hotspot.phone, "internet.test", 1_000)).toHaveProperty(
      "error",
    );
    expect(readIfExists("/etc/resolv.conf")).toBe(machineResolvConf);
  });

  it("disables IPv6 on every namespace's interfaces", async () => {
    for (const role of ROLES) {
      const { stdout } = await topo.exec(role, ["cat", "/proc/sys/net/ipv6/conf/all/disable_ipv6"]);
      expect(stdout.trim(), role).toBe("1");
    }
  });

  it("runs an iperf3 server the exit can measure against", async () => {
    const { host, port } = internet.iperf3!;
    const { stdout, code } = await topo.exec(
      "exit",
      ["iperf3", "-c", host, "-p", String(port), "-n", "4M", "-J", "--connect-timeout", "2000"],
      { timeoutMs: 20_000 },
    );
    expect(code).toBe(0);
    // sum_received can lag the last bytes in iperf3's -n mode; sum_sent is exact.
    const report = JSON.parse(stdout) as {
      end: { sum_sent: { bytes: number }; sum_received: { bytes: number } };
    };
    expect(report.end.sum_sent.bytes).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    expect(report.end.sum_received.bytes).toBeGreaterThan(0);
  });

  it("loads a page served in the exit namespace in Chromium running in the phone namespace", async () => {
    const server = await startHttpServer(topo, "exit", ADDR.carrier.exit, 8080);
    const context = await launchPhoneBrowser(topo);
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      const response = await page.goto(`${server.url}/`, { timeout: 15_000 });
      expect(response?.status()).toBe(200);
      expect(await page.title()).toBe("Tether e2e internet");
      expect(await page.textContent("#hello")).toBe(HELLO_TEXT);
      // The same browser cannot see the internet: nothing NATs for it yet.
      const blocked = await page.goto(`${internet.url}/hello`, { timeout: 3_000 }).then(
        () => "loaded",
        () => "failed",
      );
      expect(blocked).toBe("failed");
    } finally {
      await context.close();
    }
  });
});

describe.skipIf(!isRoot && !mustRun)("topology teardown (needs root)", () => {
  it("destroy() kills every spawned process, removes namespaces, folders and temp dirs, and is idempotent", async () => {
    const topo = await createTopology({ tag: "teardown" });
    const leader = topo.spawn("exit", ["sleep", "600"]);
    // A process that forks: its child is in the same process group and must die too.
    const forker = topo.spawn("phone", ["sh", "-c", "sleep 600 & echo $!; wait"]);
    const [firstLine] = (await once(forker.stdout!, "data")) as [Buffer];
    const grandchild = Number(firstLine.toString().trim());
    const dir = topo.tempDir("scratch");
    expect(isProcessAlive(grandchild)).toBe(true);

    await Promise.all([topo.destroy(), topo.destroy()]);
    await topo.destroy();

    const names = await listNamespaces();
    expect(names.filter((n) => n.startsWith(`${topo.id}-`))).toEqual([]);
    for (const pid of [leader.pid!, forker.pid!, grandchild])
      expect(isProcessAlive(pid), String(pid)).toBe(false);
    expect(existsSync(`/etc/netns/${topo.ns.laptop}`)).toBe(false);
    expect(existsSync(dir)).toBe(false);
    await expect(topo.exec("laptop", ["true"])).rejects.toMatchObject({ code: "E2E_DESTROYED" });
  });

  it("createTopology removes namespaces left by a dead pid and spares a live pid's", async () => {
    const exited = spawn("true");
    await once(exited, "exit");
    const deadPid = exited.pid!;
    expect(isProcessAlive(deadPid)).toBe(false);
    const sleeper = spawn("sleep", ["60"]);
    const livePid = sleeper.pid!;
    const stale = `tth${deadPid}-laptop`;
    const spared = `tth${livePid}-laptop`;
    try {
      await runBounded(["ip", "netns", "add", stale], { check: true });
      await runBounded(["mkdir", "-p", `/etc/netns/${stale}`], { check: true });
      await runBounded(["ip", "netns", "add", spared], { check: true });

      const topo = await createTopology({ tag: "stale" });
      await topo.destroy();

      const names = await listNamespaces();
      expect(names).not.toContain(stale);
      expect(existsSync(`/etc/netns/${stale}`)).toBe(false);
      expect(names).toContain(spared);
    } finally {
      await runBounded(["ip", "netns", "del", spared]);
      await runBounded(["ip", "netns", "del", stale]);
      sleeper.kill("SIGKILL");
    }
  });

  it("leaves no namespace of this process behind", async () => {
    expect((await listNamespaces()).filter((n) => n.startsWith(`tth${process.pid}-`))).toEqual([]);
  });
});
