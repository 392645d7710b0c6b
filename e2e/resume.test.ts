// Flows survive the phone: a long transfer from the internet to the laptop keeps going, and ends
// with a matching hash, across each way a relay can drop. The laptop keeps its inner address; the
// time from each drop to the first packet relayed again is printed.
import type { ChildProcess } from "node:child_process";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEARTBEAT_TIMEOUT_MS } from "../protocol/heartbeat.js";
import {
  EXIT_PORT,
  type Exit,
  exitedCode,
  LAPTOP_PORT,
  LAPTOP_TUN,
  type Laptop,
  outputOf,
  type PageRelayStats,
  pairPhone,
  startExit,
  startLaptop,
  waitForOutput,
  waitForRelay,
  waitForRelayDrop,
} from "./chain.js";
import { expectedSha256, type Internet, startInternet } from "./internet.js";
import { canRunPrivileged } from "./privileged.js";
import { createTopology, type Topology } from "./topology.js";

/** Each transfer: long enough to span a drop and its recovery, short enough to keep CI quick. */
const TRANSFER_BYTES = 12 * 1024 * 1024;
/** curl's --limit-rate, bytes/s: stretches a transfer to several seconds. */
const TRANSFER_RATE = 2_000_000;
/** The target from link back to traffic relayed again, ms (printed; asserted with slack). */
const RESUME_TARGET_MS = 2_000;

const relayed = (s: PageRelayStats) => s.packetsUp + s.packetsDown;

describe.skipIf(!canRunPrivileged)("flows survive the phone (needs root)", () => {
  let topology: Topology;
  let internet: Internet;
  let exit: Exit;
  let laptop: Laptop;
  let page: Page;
  let seed = 0;

  const inner = async () =>
    (await topology.exec("laptop", ["ip", "-4", "-o", "addr", "show", "dev", LAPTOP_TUN])).stdout.match(
      /inet (\S+)/,
    )?.[1];

  /** A rate-limited download into the laptop namespace, hashed as it arrives. */
  function startTransfer(): { child: ChildProcess; done: Promise<string>; seed: string } {
    const name = `resume-${seed++}`;
    const child = topology.spawn("laptop", [
      "sh",
      "-c",
      `curl -sS --fail --max-time 120 --limit-rate ${TRANSFER_RATE} '${internet.url}/bytes/${TRANSFER_BYTES}?seed=${name}' | sha256sum`,
    ]);
    let out = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    const done = exitedCode(child, 150_000).then((code) => {
      if (code !== 0) throw new Error(`transfer failed (${code}): ${topology.logTail(child)}`);
      return out.split(" ")[0] ?? "";
    });
    return { child, done, seed: name };
  }

  /** Waits until the transfer is flowing through the relay. */
  async function flowing(): Promise<void> {
    const { stats } = await waitForRelay(page, (s) => s.relaying && s.packetsDown > 0, "traffic");
    const base = stats.packetsDown;
    await waitForRelay(page, (s) => s.packetsDown > base + 200, "the transfer to be under way");
  }

  /** Drops something, then measures until the relay carries packets again. */
  async function dropAndRecover(
    label: string,
    drop: () => Promise<void>,
    backSince?: () => number,
    /** The drop is itself the stop (a reload ends the page that relayed), so nothing waits to see it. */
    dropStopsRelay = false,
  ): Promise<number> {
    const before = await inner();
    const transfer = startTransfer();
    await flowing();
    const { stats: beforeDrop } = await waitForRelay(page, () => true, "stats");
    const dropped = Date.now();
    await drop();
    // A killed socket stops the relay; then wait for the first packet after it (or for the leg
    // already redialed: the gap may fall between two polls). A link that comes back within the
    // heartbeat timeout may never stop it: TCP just retransmits. A reloaded page can be relaying
    // again (with fresh counters) before a poll would see the gap.
    if (!backSince && !dropStopsRelay)
      await waitForRelayDrop(page, beforeDrop, `${label}: the relay to notice`, 10_000);
    const { stats } = await waitForRelay(page, () => true, "stats");
    const base = relayed(stats);
    // Two phases: the session back (ours: redial, handshake, WELCOME), then the first packet,
    // which waits for the inner TCP to send again (its retransmission timer, if packets were lost).
    await waitForRelay(page, (s) => s.relaying, `${label}: the session back`, 30_000, 10);
    const from = backSince ? backSince() : dropped;
    const sessionMs = Date.now() - from;
    await waitForRelay(page, (s) => s.relaying && relayed(s) > base, `${label}: traffic again`, 30_000, 10);
    const ms = Date.now() - from;
    expect(await transfer.done).toBe(expectedSha256(TRANSFER_BYTES, transfer.seed));
    expect(await inner()).toBe(before);
    console.log(
      `[resume] ${label}: ${ms} ms from ${backSince ? "link back" : "drop"} to the first packet relayed again ` +
        `(session back after ${sessionMs} ms); 12 MiB transfer sha256 matches; laptop address ${before} kept`,
    );
    return ms;
  }

  beforeAll(async () => {
    topology = await createTopology({ tag: "resume" });
    internet = await startInternet(topology, { iperf3: false });
    exit = await startExit(topology);
    laptop = await startLaptop(topology, exit, await exit.addKey("resume-laptop"));
    ({ page } = await pairPhone(topology, exit, laptop));
  });

  afterAll(async () => {
    await topology?.destroy();
  });

  it("keeps a transfer going when the phone's connection to the exit is killed (ss -K)", async () => {
    const ms = await dropAndRecover("exit leg killed", async () => {
      await topology.exec("phone", [
        "ss",
        "-K",
        "dst",
        topology.addr.carrier.exit,
        "dport",
        "=",
        String(EXIT_PORT),
      ]);
    });
    expect(ms).toBeLessThan(RESUME_TARGET_MS);
  });

  it("keeps a transfer going when the phone's connection to the laptop is killed (ss -K)", async () => {
    const ms = await dropAndRecover("laptop leg killed", async () => {
      await topology.exec("phone", [
        "ss",
        "-K",
        "dst",
        topology.addr.hotspot.laptop,
        "dport",
        "=",
        String(LAPTOP_PORT),
      ]);
    });
    expect(ms).toBeLessThan(RESUME_TARGET_MS);
  });

  it("keeps a transfer going when the phone's link to the exit is down for 3 s", async () => {
    let back = 0;
    const ms = await dropAndRecover(
      "carrier link down 3 s",
      async () => {
        await topology.exec("phone", ["ip", "link", "set", topology.ifname.phone.carrier, "down"], {
          check: true,
        });
        await new Promise((resolve) => setTimeout(resolve, 3_000));
        await topology.exec("phone", ["ip", "link", "set", topology.ifname.phone.carrier, "up"], {
          check: true,
        });
        await topology.exec("phone", [
          "ip",
          "route",
          "replace",
          "default",
          "via",
          topology.addr.carrier.exit,
        ]);
        back = Date.now();
      },
      () => back,
    );
    expect(ms).toBeLessThan(RESUME_TARGET_MS + HEARTBEAT_TIMEOUT_MS);
  });

  it("keeps a transfer going when the page reloads", async () => {
    const ms = await dropAndRecover(
      "page reloaded",
      async () => {
        await page.reload({ waitUntil: "domcontentloaded" });
      },
      undefined,
      true,
    );
    expect(ms).toBeLessThan(RESUME_TARGET_MS);
  });

  it("finds a leg gone silent (no FIN, no RST) by its heartbeat and redials it", async () => {
    await waitForRelay(page, (s) => s.relaying, "relaying");
    const table = "tth_zombie";
    const rules = [
      `table inet ${table} {`,
      "  chain in { type filter hook input priority 0; policy accept;",
      `    ip saddr ${topology.addr.carrier.exit} drop; }`,
      "  chain out { type filter hook output priority 0; policy accept;",
      `    ip daddr ${topology.addr.carrier.exit} drop; }`,
      "}",
    ].join("\n");
    const silenced = Date.now();
    await topology.exec("phone", ["nft", "-f", "-"], { input: rules, check: true });
    const { stats } = await waitForRelay(
      page,
      (s) => s.exit.state !== "open",
      "the zombie leg to be dropped",
      15_000,
    );
    const detected = Date.now() - silenced;
    expect(stats.exit.lastClose).toBe("no heartbeat");
    expect(detected).toBeLessThan(HEARTBEAT_TIMEOUT_MS + 1_500);
    await topology.exec("phone", ["nft", "delete", "table", "inet", table], { check: true });
    const { ms } = await waitForRelay(page, (s) => s.relaying, "relaying again", 15_000);
    console.log(
      `[resume] zombie exit leg: detected by the heartbeat after ${detected} ms (timeout ${HEARTBEAT_TIMEOUT_MS} ms); ` +
        `relaying again ${ms} ms after the blackhole was lifted`,
    );
  });

  it("starts a new session by itself when the exit restarted and forgot it", async () => {
    exit.process.kill("SIGTERM");
    expect(await exitedCode(exit.process)).toBe(0);
    exit = await startExit(topology, [], exit);
    await waitForOutput(laptop.process, /previous session expired: new session/, "the laptop's new session");
    const hello = await topology.exec("laptop", ["curl", "-sS", "--max-time", "10", `${internet.url}/hello`]);
    expect(hello.stdout).toContain("hello from the internet");
    const line = outputOf(laptop.process).match(/.*previous session expired.*/)?.[0];
    console.log(`[resume] exit restarted: laptop said "${line?.trim()}"; traffic flows again`);
  });
});
