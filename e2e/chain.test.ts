// The whole chain, for real: the `tether` CLI with a real TUN in the laptop namespace, the built
// PWA in Debian's Chromium in the phone namespace, the exit with a real TUN and nftables NAT, and
// the internet namespace's HTTP and DNS servers. Every byte below crosses all of it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EXIT_TUN,
  type Exit,
  exitedCode,
  LAPTOP_TUN,
  type Laptop,
  type Phone,
  pairPhone,
  startExit,
  startLaptop,
  waitForOutput,
} from "./chain.js";
import { expectedSha256, type Internet, startInternet } from "./internet.js";
import { type NetworkState, networkState } from "./network-state.js";
import { canRunPrivileged } from "./privileged.js";
import { createTopology, type Topology } from "./topology.js";

/** The file the laptop fetches: big enough to be many thousands of packets each way. */
const FILE_BYTES = 20 * 1024 * 1024;

function metric(text: string, name: string, labels: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(" ").pop()) : 0;
}

describe.skipIf(!canRunPrivileged)(
  "the whole chain: laptop TUN -> phone browser -> exit NAT (needs root)",
  () => {
    let topology: Topology;
    let internet: Internet;
    let exit: Exit;
    let laptop: Laptop;
    let phone: Phone;
    let before: NetworkState;

    beforeAll(async () => {
      topology = await createTopology({ tag: "chain" });
      internet = await startInternet(topology, { iperf3: false });
      exit = await startExit(topology);
      before = await networkState(topology);
      laptop = await startLaptop(topology, exit, await exit.addKey("e2e-laptop"));
      ({ phone } = await pairPhone(topology, exit, laptop));
    });

    afterAll(async () => {
      await topology?.destroy();
    });

    it("fetches a 20 MiB file from the internet namespace with a matching sha256, through the exit", async () => {
      const url = `${internet.url}/bytes/${FILE_BYTES}?seed=chain`;
      const started = Date.now();
      const { stdout, code, stderr } = await topology.exec(
        "laptop",
        ["sh", "-c", `curl -sS --fail --max-time 90 '${url}' | sha256sum`],
        { timeoutMs: 100_000 },
      );
      const seconds = (Date.now() - started) / 1000;
      expect(code, stderr).toBe(0);
      const hash = stdout.split(" ")[0];
      expect(hash).toBe(expectedSha256(FILE_BYTES, "chain"));
      const metrics = await exit.get("/metrics");
      const down = metric(metrics, "tether_exit_bytes_total", 'direction="down"');
      const up = metric(metrics, "tether_exit_bytes_total", 'direction="up"');
      expect(down).toBeGreaterThan(FILE_BYTES);
      console.log(
        `[chain] 20 MiB over HTTP: sha256 ${hash} matches, ${seconds.toFixed(1)} s ` +
          `(${((FILE_BYTES * 8) / seconds / 1e6).toFixed(0)} Mbit/s); exit counted ${down} bytes down, ${up} up`,
      );
    });

    it("resolves a name through the DNS server the exit announced", async () => {
      const resolvConf = (await topology.exec("laptop", ["cat", "/etc/resolv.conf"])).stdout;
      expect(resolvConf).toContain(`nameserver ${topology.addr.egress.internet}`);
      const { stdout, code } = await topology.exec("laptop", ["getent", "ahostsv4", "internet.test"]);
      expect(code).toBe(0);
      expect(stdout).toContain(topology.addr.egress.internet);
      console.log(`[chain] getent ahostsv4 internet.test -> ${stdout.split("\n")[0]}`);
    });

    it("pings the internet namespace from the laptop", async () => {
      const { stdout, code } = await topology.exec("laptop", [
        "ping",
        "-c",
        "3",
        "-i",
        "0.2",
        "-W",
        "2",
        topology.addr.egress.internet,
      ]);
      expect(code, stdout).toBe(0);
      expect(stdout).toMatch(/3 packets transmitted, 3 received/);
      console.log(`[chain] ${stdout.trim().split("\n").slice(-2).join(" | ")}`);
    });

    it("refuses a laptop with a wrong key with a clear message, changing no route", async () => {
      const routesBefore = await networkState(topology);
      const wrongKey = `e2e-laptop:${Buffer.alloc(32, 1).toString("base64url")}`;
      const intruder = await startLaptop(topology, exit, wrongKey, {
        port: 7444,
        tunName: "tether9",
        label: "intruder",
        sameCertificateAs: laptop,
      });
      const page = await phone.open(intruder.link, { waitForRelay: false });
      const [message] = await waitForOutput(
        intruder.process,
        /tether: the exit refused this laptop's key.*\[AUTH_FAILED\]/,
        "the refusal",
      );
      expect(await exitedCode(intruder.process)).toBe(1);
      await page.close();
      const routesAfter = await networkState(topology);
      expect(routesAfter.routes).toBe(routesBefore.routes);
      expect(routesAfter.resolvConf).toBe(routesBefore.resolvConf);
      const metrics = await exit.get("/metrics");
      expect(metric(metrics, "tether_exit_handshakes_total", 'result="auth_failed"')).toBeGreaterThanOrEqual(
        1,
      );
      console.log(`[chain] wrong key: ${message.trim()}; exit code 1; routes unchanged`);
    });

    it("puts routes, resolver and links back as they were when tether gets SIGINT", async () => {
      const during = await networkState(topology);
      expect(during.routes).toContain(`0.0.0.0/1 dev ${LAPTOP_TUN}`);
      expect(during.routes).toContain(`128.0.0.0/1 dev ${LAPTOP_TUN}`);
      laptop.process.kill("SIGINT");
      expect(await exitedCode(laptop.process)).toBe(0);
      const after = await networkState(topology);
      expect(after).toEqual(before);
      console.log(
        `[chain] after SIGINT: routes, ip -6 routes, links and resolv.conf equal the state before start:\n${after.routes}`,
      );
    });

    it("removes its nftables table and TUN when the exit stops", async () => {
      const up = await topology.exec("exit", ["nft", "list", "table", "ip", "tether_exit"]);
      expect(up.code).toBe(0);
      exit.process.kill("SIGTERM");
      expect(await exitedCode(exit.process)).toBe(0);
      const table = await topology.exec("exit", ["nft", "list", "table", "ip", "tether_exit"]);
      const link = await topology.exec("exit", ["ip", "link", "show", EXIT_TUN]);
      expect(table.code).not.toBe(0);
      expect(link.code).not.toBe(0);
      console.log("[chain] exit stopped: nft table tether_exit and TUN tether-exit0 are gone");
    });
  },
);
