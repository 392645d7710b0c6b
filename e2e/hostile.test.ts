// Hostile clients against the running chain: while a good laptop downloads a file through the
// phone and the exit, clients in the phone namespace (on addresses of their own, so the exit's
// per-address limits do not touch the good phone) throw malformed frames, slow and wrong handshakes,
// refused destinations and spoofed packets at the exit, and wrong secrets and origins at the
// laptop. Each must get its stable close code, the transfer must finish with the right hash, and
// the exit's memory must stay bounded. Then, as a paired phone gone bad, malformed frames at the
// laptop: each closes with its code, the laptop keeps running, and the real phone gets back in.
import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_HANDSHAKES_PER_SOURCE } from "../exit/limits.js";
import { ErrorCodes } from "../protocol/errors.js";
import {
  type Exit,
  LAPTOP_PORT,
  type Laptop,
  outputOf,
  pairPhone,
  ROOT,
  startExit,
  startLaptop,
} from "./chain.js";
import { expectedSha256, type Internet, startInternet } from "./internet.js";
import { canRunPrivileged } from "./privileged.js";
import { createTopology, type Topology } from "./topology.js";

/** The good transfer: long enough (rate-limited by curl) to outlast every attack. */
const FILE_BYTES = 48 * 1024 * 1024;
const CURL_RATE = "3M";
/** Addresses the attackers use on the phone's carrier link, one per kind of attack. */
const ATTACKERS = {
  malformed: "203.0.113.66",
  slow: "203.0.113.67",
  slow2: "203.0.113.70",
  slow3: "203.0.113.71",
  flood: "203.0.113.72",
  holder: "203.0.113.73",
  late: "203.0.113.74",
  wrong: "203.0.113.68",
  key: "203.0.113.69",
};
/** Limits set low for this run, so the attacks reach them quickly. */
const LIMITS = { maxHandshakes: 16, handshakeTimeoutS: 3, perKey: 2, burst: 10 };
/**
 * Crowds of slow handshakes, one address each, dialed one after the other: the first past its
 * source's limit (RATE_LIMITED), the second at it, the third into the exit's full limit (EXIT_BUSY).
 */
const SLOW_CROWDS: [string, number][] = [
  [ATTACKERS.slow, MAX_HANDSHAKES_PER_SOURCE + 2],
  [ATTACKERS.slow2, LIMITS.maxHandshakes - MAX_HANDSHAKES_PER_SOURCE],
  [ATTACKERS.slow3, 4],
];
const WRONG_KEYS = 15;
/** How long the slot holder keeps at it: several rounds of the (3 s) handshake deadline. */
const HOLD_SECONDS = 12;
/** How long the PING flood may go on; the exit must cut it well before. */
const FLOOD_SECONDS = 10;
/**
 * How much the exit's resident memory may grow during the PING flood: nothing is answered before
 * the handshake, so it holds only what ws reads in one go (it took 1.35 GB in 6 s when answered).
 */
const FLOOD_RSS_GROWTH_BOUND_BYTES = 48 * 1024 * 1024;
/** How much the exit's resident memory may grow during the attacks. */
const RSS_GROWTH_BOUND_BYTES = 96 * 1024 * 1024;

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
}

function metric(text: string, name: string, labels = ""): number {
  const line = text.split("\n").find((l) => l.startsWith(labels ? `${name}{${labels}} ` : `${name} `));
  return line ? Number(line.split(" ").pop()) : 0;
}

function tetherMetrics(text: string): string {
  return text
    .split("\n")
    .filter((l) => l.startsWith("tether_exit_") && !l.endsWith(" 0") && !l.includes("_bucket{"))
    .join("\n");
}

describe.skipIf(!canRunPrivileged)("hostile clients against a running exit and laptop (needs root)", () => {
  let topology: Topology;
  let internet: Internet;
  let exit: Exit;
  let laptop: Laptop;
  let attackerKey: string;
  let secret: string;

  const client = async (command: string, args: Record<string, unknown>, timeoutMs = 120_000) => {
    const { stdout, stderr, code } = await topology.exec(
      "phone",
      ["node", "--import", "tsx", "e2e/hostile-client.ts", command, JSON.stringify(args)],
      { cwd: ROOT, timeoutMs },
    );
    if (code !== 0) throw new Error(`hostile-client ${command} failed (${code}):\n${stderr}\n${stdout}`);
    // biome-ignore lint/suspicious/noExplicitAny: the client's JSON report, checked field by field below
    return JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, any>;
  };

  beforeAll(async () => {
    topology = await createTopology({ tag: "hostile" });
    for (const address of Object.values(ATTACKERS)) {
      await topology.exec(
        "phone",
        ["ip", "addr", "add", `${address}/24`, "dev", topology.ifname.phone.carrier],
        {
          check: true,
        },
      );
    }
    internet = await startInternet(topology, { iperf3: false });
    exit = await startExit(topology, [
      "--max-handshakes",
      String(LIMITS.maxHandshakes),
      "--handshake-timeout",
      String(LIMITS.handshakeTimeoutS),
      "--max-sessions-per-key",
      String(LIMITS.perKey),
      "--failed-handshake-burst",
      String(LIMITS.burst),
      "--failed-handshake-interval",
      "60",
    ]);
    laptop = await startLaptop(topology, exit, await exit.addKey("good-laptop"));
    attackerKey = await exit.addKey("attacker");
    secret = new URLSearchParams(laptop.link.slice(laptop.link.indexOf("#") + 1)).get("secret") ?? "";
    await pairPhone(topology, exit, laptop);
  });

  afterAll(async () => {
    await topology?.destroy();
  });

  it("keeps a good transfer going while hostile clients hit the exit and the laptop; each gets its code", async () => {
    const pid = exit.process.pid!;
    const rssBefore = rssBytes(pid);
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, rssBytes(pid));
    }, 200);
    const url = `${internet.url}/bytes/${FILE_BYTES}?seed=hostile`;
    const started = Date.now();
    const transfer = topology.exec(
      "laptop",
      ["sh", "-c", `curl -sS --fail --max-time 150 --limit-rate ${CURL_RATE} '${url}' | sha256sum`],
      { timeoutMs: 160_000 },
    );
    try {
      const laptopUrl = `wss://${topology.addr.hotspot.laptop}:${LAPTOP_PORT}`;
      const [atExit, atLaptop] = await Promise.all([
        client("exit", {
          url: exit.origin.replace(/^https/, "wss"),
          key: attackerKey,
          wrongKey: `attacker:${Buffer.alloc(32, 1).toString("base64url")}`,
          bind: ATTACKERS.malformed,
          slowBind: ATTACKERS.slow,
          slowCrowds: SLOW_CROWDS,
          wrongBind: ATTACKERS.wrong,
          wrongCount: WRONG_KEYS,
          keyBind: ATTACKERS.key,
          perKey: LIMITS.perKey,
        }),
        client("laptop-pairing", {
          url: laptopUrl,
          secret,
          origin: exit.origin,
          bind: topology.addr.hotspot.phone,
        }),
      ]);
      // The keys file mid-edit (an operator's editor has written half of it): a HELLO then is
      // checked against the last good keys, and the exit stays up.
      const keysText = readFileSync(exit.keysFile, "utf8");
      writeFileSync(exit.keysFile, keysText.slice(0, keysText.length >> 1));
      const midEdit = await client("handshake", {
        url: exit.origin.replace(/^https/, "wss"),
        key: attackerKey,
        bind: ATTACKERS.key,
      }).finally(() => writeFileSync(exit.keysFile, keysText));
      const metricsDuring = await exit.get("/metrics");
      const { stdout, code, stderr } = await transfer;
      const seconds = (Date.now() - started) / 1000;
      clearInterval(sampler);
      rssPeak = Math.max(rssPeak, rssBytes(pid));
      const metricsAfter = await exit.get("/metrics");

      console.log(`[hostile] at the exit: ${JSON.stringify(atExit, null, 1)}`);
      console.log(`[hostile] at the laptop: ${JSON.stringify(atLaptop, null, 1)}`);
      console.log(`[hostile] exit metrics while under attack:\n${tetherMetrics(metricsDuring)}`);
      console.log(`[hostile] exit metrics after:\n${tetherMetrics(metricsAfter)}`);
      console.log(
        `[hostile] good transfer: ${FILE_BYTES} bytes in ${seconds.toFixed(1)} s; exit RSS ${(rssBefore / 2 ** 20).toFixed(0)} MiB before, ${(rssPeak / 2 ** 20).toFixed(0)} MiB at most`,
      );

      expect(code, stderr).toBe(0);
      expect(stdout.split(" ")[0]).toBe(expectedSha256(FILE_BYTES, "hostile"));
      expect(rssPeak - rssBefore).toBeLessThan(RSS_GROWTH_BOUND_BYTES);

      const close = (code: keyof typeof ErrorCodes) => ErrorCodes[code].close;
      console.log(`[hostile] a HELLO while the keys file was half written: ${JSON.stringify(midEdit)}`);
      expect(midEdit.welcomed).toBe(true);
      expect(exit.process.exitCode).toBeNull();
      expect(laptop.process.exitCode).toBeNull();
      // `//` as a request target stopped both processes before: now an answer, and both run on.
      expect(atExit.doubleSlash).toEqual({ plain: 200, upgrade: 404 }); // "//" is a path: the app's page
      expect(atLaptop.doubleSlash).toEqual({ plain: 404, upgrade: 404 });
      expect(atExit.foreignOrigin.status).toBe(403);
      expect(metric(metricsAfter, "tether_exit_refusals_total", 'reason="foreign_origin"')).toBe(1);
      expect(atExit.truncatedHeader.close).toBe(close("TRUNCATED"));
      expect(atExit.lengthPastLimit.close).toBe(close("LENGTH_MISMATCH"));
      expect(atExit.frameTooLarge.close).toBe(close("FRAME_TOO_LARGE"));
      expect(atExit.hugeMessage.close).toBe(1009); // ws: past maxPayload, refused at its header
      expect(atExit.lyingBatch.close).toBe(close("TRUNCATED"));
      expect(atExit.badBase64.close).toBe(close("BAD_BASE64"));
      expect(atExit.unknownType).toMatchObject({
        welcomed: true,
        pongsBeforeKeys: 0,
        answeredPingAfterKeys: true,
      });
      expect(atExit.wrongVersion.close).toBe(close("UNSUPPORTED_VERSION"));
      // One source holds at most its share of the handshake slots; only several fill the exit's.
      expect(atExit.slowHandshakes).toEqual({
        [ATTACKERS.slow]: {
          [`close ${close("HANDSHAKE_TIMEOUT")}`]: MAX_HANDSHAKES_PER_SOURCE,
          [`close ${close("RATE_LIMITED")}`]: 2,
        },
        [ATTACKERS.slow2]: {
          [`close ${close("HANDSHAKE_TIMEOUT")}`]: LIMITS.maxHandshakes - MAX_HANDSHAKES_PER_SOURCE,
        },
        [ATTACKERS.slow3]: { [`close ${close("EXIT_BUSY")}`]: 4 },
      });
      expect(atExit.wrongKeys).toEqual([
        ...new Array(LIMITS.burst).fill(close("AUTH_FAILED")),
        ...new Array(WRONG_KEYS - LIMITS.burst).fill(close("RATE_LIMITED")),
      ]);
      expect(atExit.afterHandshake.address).toMatch(/^10\.77\./);
      expect(atExit.afterHandshake.close).toBe(close("TRUNCATED"));
      // The session the lying batch ended is detached, holding its address; at the key's limit it
      // is given up for a new one. Past the limit with every session attached: SESSION_LIMIT.
      expect(atExit.sessionsPerKey).toEqual({ welcomed: LIMITS.perKey, refused: [close("SESSION_LIMIT")] });
      // Connections that never become a request are cut off: no TLS handshake after 10 s, half a
      // header (slowloris) after 10 s (Node checks every second), with 408.
      expect(atExit.slowTls.closedAfterMs).toBeGreaterThan(9_000);
      expect(atExit.slowTls.closedAfterMs).toBeLessThan(13_000);
      expect(atExit.slowHeaders.closedAfterMs).toBeGreaterThan(9_000);
      expect(atExit.slowHeaders.closedAfterMs).toBeLessThan(13_000);
      expect(atExit.slowHeaders.answer).toMatch(/^HTTP\/1\.1 408/);
      for (const refusal of ["wrongSecret", "wrongOrigin", "noOrigin"]) {
        expect(atLaptop[refusal].close, refusal).toBe(close("PAIRING_FAILED"));
      }
      expect(atLaptop.wrongPath.status).toBe(404);

      for (const reason of [
        "egress_link_local",
        "egress_private",
        "egress_loopback",
        "egress_own_address",
        "egress_multicast",
        "egress_reserved",
        "spoofed_source",
      ]) {
        expect(metric(metricsAfter, "tether_exit_drops_total", `reason="${reason}"`), reason).toBeGreaterThan(
          0,
        );
      }
      expect(metric(metricsAfter, "tether_exit_drops_total", 'reason="egress_own_address"')).toBe(2);
      expect(metric(metricsAfter, "tether_exit_handshakes_total", 'result="auth_failed"')).toBe(LIMITS.burst);
      expect(metric(metricsAfter, "tether_exit_handshakes_total", 'result="rate_limited"')).toBe(
        WRONG_KEYS - LIMITS.burst + 2,
      );
      expect(metric(metricsAfter, "tether_exit_handshakes_total", 'result="timeout"')).toBe(
        LIMITS.maxHandshakes,
      );
      expect(metric(metricsAfter, "tether_exit_handshakes_total", 'result="busy"')).toBe(4);
      // Each refusal at admission under its reason.
      const refusals = (reason: string) =>
        metric(metricsAfter, "tether_exit_refusals_total", `reason="${reason}"`);
      expect(refusals("failed_handshakes")).toBe(WRONG_KEYS - LIMITS.burst);
      expect(refusals("source_handshakes")).toBe(2);
      expect(refusals("exit_handshakes")).toBe(4);
      expect(metric(metricsAfter, "tether_exit_handshakes_total", 'result="session_limit"')).toBe(1);
      expect(metric(metricsAfter, "tether_exit_handshakes_in_progress")).toBe(0);
    } finally {
      clearInterval(sampler);
    }
  });

  it("cuts a socket that streams PINGs and never reads, its memory bounded, while the good laptop keeps flowing", async () => {
    const pid = exit.process.pid!;
    const rssBefore = rssBytes(pid);
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, rssBytes(pid));
    }, 100);
    const bytes = 8 * 1024 * 1024;
    const transfer = topology.exec(
      "laptop",
      [
        "sh",
        "-c",
        `curl -sS --fail --max-time 60 --limit-rate 1M '${internet.url}/bytes/${bytes}?seed=flood' | sha256sum`,
      ],
      { timeoutMs: 70_000 },
    );
    try {
      const flood = await client("ping-flood", {
        url: exit.origin.replace(/^https/, "wss"),
        bind: ATTACKERS.flood,
        seconds: FLOOD_SECONDS,
      });
      const { stdout, code, stderr } = await transfer;
      clearInterval(sampler);
      const metrics = await exit.get("/metrics");
      console.log(
        `[hostile] PING flood: ${JSON.stringify(flood)}; exit RSS ${(rssBefore / 2 ** 20).toFixed(0)} MiB before, ${(rssPeak / 2 ** 20).toFixed(0)} MiB at most`,
      );
      console.log(`[hostile] exit metrics after the flood:\n${tetherMetrics(metrics)}`);
      expect(code, stderr).toBe(0);
      expect(stdout.split(" ")[0]).toBe(expectedSha256(bytes, "flood"));
      expect(flood.sent).toBeGreaterThan(10_000);
      expect(flood.pongs).toBe(0); // nothing but the handshake is answered before it
      // Cut by the exit: its HELLO deadline (3 s here), then the close handshake's few seconds.
      expect(flood.cutByExit).toBe(true);
      expect(flood.openForMs).toBeLessThan(FLOOD_SECONDS * 1000 - 1000);
      expect(rssPeak - rssBefore).toBeLessThan(FLOOD_RSS_GROWTH_BOUND_BYTES);
      expect(metric(metrics, "tether_exit_refusals_total", 'reason="control_reply"')).toBeGreaterThan(0);
      expect(exit.process.exitCode).toBeNull();
    } finally {
      clearInterval(sampler);
    }
  });

  it("keeps slots for everybody else while one address holds handshakes to just before the deadline and redials", async () => {
    const before = await exit.get("/metrics");
    const lateKey = await exit.addKey("late-laptop");
    const bytes = 8 * 1024 * 1024;
    const transfer = topology.exec(
      "laptop",
      [
        "sh",
        "-c",
        `curl -sS --fail --max-time 60 --limit-rate 1M '${internet.url}/bytes/${bytes}?seed=slots' | sha256sum`,
      ],
      { timeoutMs: 70_000 },
    );
    const url = exit.origin.replace(/^https/, "wss");
    const attack = client("slot-hold", {
      url,
      bind: ATTACKERS.holder,
      holders: LIMITS.maxHandshakes, // every slot the exit has, as before per-source limits
      holdMs: LIMITS.handshakeTimeoutS * 1000 - 300,
      seconds: HOLD_SECONDS,
    });
    // A laptop that was not connected before dials while the holder holds all it can get (before
    // per-source limits that was every slot: EXIT_BUSY), from another address.
    const holding = Date.now() + 15_000;
    let inProgress = 0;
    while (Date.now() < holding) {
      inProgress = metric(await exit.get("/metrics"), "tether_exit_handshakes_in_progress");
      if (inProgress >= MAX_HANDSHAKES_PER_SOURCE) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const late = await client("handshake", { url, key: lateKey, bind: ATTACKERS.late });
    const held = await attack;
    const { stdout, code, stderr } = await transfer;
    const after = await exit.get("/metrics");
    const grew = (name: string, labels: string) => metric(after, name, labels) - metric(before, name, labels);
    console.log(
      `[hostile] slot holding: ${JSON.stringify(held)}; a new laptop meanwhile (${inProgress} handshakes in progress): ${JSON.stringify(late)}; ` +
        `abandoned +${grew("tether_exit_handshakes_total", 'result="abandoned"')}, refused for its handshakes +${grew("tether_exit_refusals_total", 'reason="source_handshakes"')}, for its failures +${grew("tether_exit_refusals_total", 'reason="failed_handshakes"')}`,
    );
    expect(code, stderr).toBe(0);
    expect(stdout.split(" ")[0]).toBe(expectedSha256(bytes, "slots"));
    expect(inProgress).toBeGreaterThanOrEqual(MAX_HANDSHAKES_PER_SOURCE);
    expect(late.welcomed).toBe(true);
    // One address holds at most its share of the slots, and its held-and-left sockets are charged:
    // once its failure budget is spent it gets none at all.
    expect(held.mostAtOnce).toBeLessThanOrEqual(MAX_HANDSHAKES_PER_SOURCE);
    expect(held.held).toBeGreaterThanOrEqual(LIMITS.burst);
    expect(held.refused[`close ${ErrorCodes.RATE_LIMITED.close}`]).toBeGreaterThan(0);
    expect(Object.keys(held.refused)).toEqual([`close ${ErrorCodes.RATE_LIMITED.close}`]);
    expect(grew("tether_exit_handshakes_total", 'result="abandoned"')).toBeGreaterThanOrEqual(LIMITS.burst);
    expect(grew("tether_exit_refusals_total", 'reason="source_handshakes"')).toBeGreaterThan(0);
    expect(grew("tether_exit_refusals_total", 'reason="failed_handshakes"')).toBeGreaterThan(0);
    expect(grew("tether_exit_refusals_total", 'reason="exit_handshakes"')).toBe(0); // never the exit's limit
    expect(exit.process.exitCode).toBeNull();
  });

  it("refuses a second paired phone while the real one relays (RELAY_BUSY), whatever it sends; the laptop keeps serving", async () => {
    const from = outputOf(laptop.process).length;
    const atLaptop = await client("laptop-frames", {
      url: `wss://${topology.addr.hotspot.laptop}:${LAPTOP_PORT}`,
      secret,
      origin: exit.origin,
    });
    console.log(`[hostile] a second phone at the laptop: ${JSON.stringify(atLaptop, null, 1)}`);
    const close = (code: keyof typeof ErrorCodes) => ErrorCodes[code].close;
    // Protocol v2: a working relay is not replaced; malformed frames never reach the tunnel end.
    for (const attempt of [
      "truncatedHeader",
      "lengthPastLimit",
      "lyingBatch",
      "badBase64",
      "dataBeforeWelcome",
    ]) {
      expect(atLaptop[attempt].close, attempt).toBe(close("RELAY_BUSY"));
    }
    // 8 MiB: refused at once (RELAY_BUSY), or ws reads its header past maxPayload first (1009) and
    // drops the socket before the refusal's close frame leaves: both are the laptop's own answer.
    expect([close("RELAY_BUSY"), 1009]).toContain(atLaptop.hugeMessage.close);
    expect(laptop.process.exitCode).toBeNull();
    expect(outputOf(laptop.process).slice(from)).not.toMatch(/relay lost/);
    const { stdout, code } = await topology.exec("laptop", [
      "sh",
      "-c",
      `curl -sS --fail --max-time 30 '${internet.url}/bytes/1048576?seed=after' | sha256sum`,
    ]);
    expect(code).toBe(0);
    expect(stdout.split(" ")[0]).toBe(expectedSha256(1024 * 1024, "after"));
  });
});
