// The exit's host is not a router: what the exit's nftables table lets through, what happens to
// ip_forward across a crash, a second exit in the same namespace, and a firewall whose FORWARD
// policy drops. The exit namespace starts with forwarding off, as a fresh VPS has it.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EXIT_CLI,
  EXIT_PORT,
  EXIT_TUN,
  type Exit,
  exitedCode,
  outputOf,
  ROOT,
  recordOutput,
  startExit,
  waitForOutput,
} from "./chain.js";
import { canRunPrivileged } from "./privileged.js";
import { createTopology, type Topology } from "./topology.js";

const POOL = "10.77.0.0/16";
/** Probes a neighbour sends, and a laptop sends, that the table must drop. */
const PROBES = 5;

describe.skipIf(!canRunPrivileged)("the exit's host is not a router (needs root)", () => {
  let topology: Topology;
  let exit: Exit;
  let key: string;

  const sh = async (ns: string, command: string) => {
    const result = await topology.exec(ns, ["sh", "-c", command]);
    return result.stdout.trim();
  };
  const ipForward = () => sh("exit", "cat /proc/sys/net/ipv4/ip_forward");
  const stateFile = async () =>
    `/run/tether-exit/ip_forward.net-${/\[(\d+)\]/.exec(await sh("exit", "readlink /proc/self/ns/net"))?.[1]}`;
  /** Packets counted by the table's `... counter drop` rules, by which side of the TUN. */
  const dropCounters = async () => {
    const table = await sh("exit", "nft list table ip tether_exit");
    const count = (side: string) =>
      Number(new RegExp(`${side} "${EXIT_TUN}" counter packets (\\d+)`).exec(table)?.[1] ?? Number.NaN);
    return { fromTun: count("iifname"), toTun: count("oifname"), table };
  };
  const client = async (command: string, args: Record<string, unknown>) => {
    const { stdout, code, stderr } = await topology.exec(
      "phone",
      ["node", "--import", "tsx", "e2e/hostile-client.ts", command, JSON.stringify(args)],
      { cwd: ROOT, timeoutMs: 60_000 },
    );
    if (code !== 0) throw new Error(`hostile-client ${command} failed (${code}):\n${stderr}`);
    return JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, unknown>;
  };

  beforeAll(async () => {
    topology = await createTopology({ tag: "host" });
    await sh("exit", "echo 0 > /proc/sys/net/ipv4/ip_forward");
    // The carrier is opened too, so that only the nftables table stands between a laptop and it.
    exit = await startExit(topology, [
      "--allow-egress",
      `${topology.addr.egress.subnet},${topology.addr.carrier.subnet}`,
    ]);
    key = await exit.addKey("laptop");
  });

  afterAll(async () => {
    await topology?.destroy();
  });

  it("forwards a laptop's packets to the egress only, and no neighbour's packets to a laptop", async () => {
    expect(await ipForward()).toBe("1");
    const before = await dropCounters();
    expect(before.table).toMatch(/hook forward priority filter; policy drop;/);
    // A laptop sends to the phone's carrier address (the exit's other network) and to the internet.
    const sent = await client("send", {
      url: exit.origin.replace(/^https/, "wss"),
      key,
      to: [...new Array(PROBES).fill(topology.addr.carrier.phone), topology.addr.egress.internet],
    });
    expect(sent.address).toMatch(/^10\.77\./);
    // A neighbour on the egress link routes the pool through the exit and pings a laptop's address.
    await sh("internet", `ip route replace ${POOL} via ${topology.addr.egress.exit}`);
    const ping = await topology.exec("internet", [
      "ping",
      "-c",
      String(PROBES),
      "-i",
      "0.2",
      "-W",
      "1",
      String(sent.address),
    ]);
    expect(ping.code).not.toBe(0);
    const after = await dropCounters();
    console.log(
      `[host] dropped by the exit's table: ${after.fromTun - before.fromTun} from the TUN (to the carrier), ${after.toTun - before.toTun} to the TUN (neighbour's pings)`,
    );
    expect(after.fromTun - before.fromTun).toBe(PROBES);
    expect(after.toTun - before.toTun).toBe(PROBES);
  });

  it("refuses to start beside another exit's table, and leaves that table alone", async () => {
    const second = recordOutput(
      topology.spawn("exit", [
        "node",
        EXIT_CLI,
        "--listen",
        `${topology.addr.carrier.exit}:${EXIT_PORT + 1}`,
        "--keys-file",
        exit.keysFile,
        "--egress",
        topology.ifname.exit.egress,
        "--tun-name",
        "tether-exit1",
      ]),
    );
    expect(await exitedCode(second)).not.toBe(0);
    expect(outputOf(second)).toMatch(
      /another tether exit \(TUN tether-exit0\) owns nftables table tether_exit/,
    );
    expect((await dropCounters()).table).toContain(`comment "tether exit on ${EXIT_TUN}"`);
  });

  it("puts ip_forward back after a crash and the next run's stop, and explains a FORWARD policy that drops", async () => {
    const state = await stateFile();
    expect(readFileSync(state, "utf8")).toBe("0\n");
    exit.process.kill("SIGKILL");
    await exitedCode(exit.process);
    expect(await ipForward()).toBe("1"); // the crash left it on...
    // ...and a host firewall (as ufw or Docker set it up) now drops forwarded packets.
    await sh(
      "exit",
      "nft add table ip filter && nft add chain ip filter FORWARD '{ type filter hook forward priority 0; policy drop; }'",
    );
    const next = await startExit(topology, [], exit);
    await waitForOutput(
      next.process,
      /the host's firewall drops forwarded packets \(ip filter FORWARD \(policy drop\)\)/,
      "the firewall warning",
    );
    expect(outputOf(next.process)).toContain(
      `ufw route allow in on ${EXIT_TUN} out on ${topology.ifname.exit.egress}`,
    );
    expect(readFileSync(state, "utf8")).toBe("0\n"); // the original, not the crash's "1"
    next.process.kill("SIGTERM");
    expect(await exitedCode(next.process)).toBe(0);
    expect(await ipForward()).toBe("0");
    expect(() => readFileSync(state)).toThrow(/ENOENT/);
    expect((await topology.exec("exit", ["nft", "list", "table", "ip", "tether_exit"])).code).not.toBe(0);
    await sh("exit", "nft delete table ip filter");
    console.log(
      "[host] after a SIGKILL and the next run's SIGTERM: ip_forward 0 again, state file and table gone",
    );
  });
});
