// A hostile relay in the real chain (issue 11.7): the built phone app in Chromium relays, and
// between it and the laptop sits e2e/hostile-relay-proxy.ts, an attacker holding what the phone
// holds (the pairing secret, a certificate the phone trusts for the laptop's address). It reads
// every relayed message, replays, flips bits, reorders, injects DATA with forged sources, swaps a
// HELLO for one seen on an earlier connection (a resume token inside it) and closes with 4401.
// Each is refused and counted (the exit's /metrics, the laptop's `tether status --json`), the
// laptop never stops, and a transfer across each attack hashes right.
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeFrame } from "../protocol/codec.js";
import { ErrorCodes } from "../protocol/errors.js";
import { FrameType, HeaderFlag } from "../protocol/frames.js";
import { HEADER_BYTES } from "../protocol/limits.js";
import { buildIpv4Udp } from "../testing/packets.js";
import { REPLAY_WINDOW_FRAMES } from "../tunnel/replay-window.js";
import {
  EXIT_PORT,
  type Exit,
  exitedCode,
  LAPTOP_CLI,
  LAPTOP_PORT,
  type Laptop,
  outputOf,
  ROOT,
  recordOutput,
  startExit,
  startLaptop,
  startPhone,
  waitForOutput,
  waitForRelay,
  waitForRelayDrop,
} from "./chain.js";
import { payloadChunks } from "./content.js";
import { expectedSha256, HELLO_TEXT, type Internet, startInternet } from "./internet.js";
import { canRunPrivileged } from "./privileged.js";
import { createTopology, type Topology } from "./topology.js";

/** Where the attacker listens: the laptop's own address, another port. */
const PROXY_PORT = 7444;
/** Sent through the tunnel in the clear (the seed in a GET line); must never show on the relay. */
const MARKER = `tether-relay-marker-${randomBytes(8).toString("hex")}`;
/** The download the marker names; slices of its body are needles too (they cross the other way). */
const MARKER_BYTES = 1024 * 1024;
const BODY_SLICE_OFFSETS = [0, 1_500, 40_000, 500_000, MARKER_BYTES - 64];
const BODY_SLICE_BYTES = 32;
/** Each attack's transfer: long enough to span the attack and its recovery. */
const TRANSFER_BYTES = 6 * 1024 * 1024;
/** curl's --limit-rate, bytes/s: about 3 s a transfer. */
const TRANSFER_RATE = 2_000_000;
/** A UDP port listened on at both ends, to see that an injected packet reaches neither. */
const PROBE_PORT = 5999;
/** Frames past a held one before it is delivered: beyond the replay window. */
const BEYOND_WINDOW = REPLAY_WINDOW_FRAMES + 64;
/** Pings per round of the flood that moves the window, and how long the flood may go on, ms. */
const FLOOD_PINGS = 3_000;
const FLOOD_MAX_MS = 150_000;

type Direction = "toLaptop" | "toExit";
// biome-ignore lint/suspicious/noExplicitAny: the proxy's JSON answers, checked field by field
type Answer = Record<string, any>;

interface LaptopStatus {
  state: string;
  address: string | undefined;
  legDrops: Record<string, number>;
  closesIgnored: number;
  handshakesFailed: number;
}

describe.skipIf(!canRunPrivileged)("a hostile relay in the chain, through the real page (needs root)", () => {
  let topology: Topology;
  let internet: Internet;
  let exit: Exit;
  let laptop: Laptop;
  let proxy: ChildProcess;
  let address: string;
  let nextId = 0;
  let seed = 0;
  const answers = new Map<number, (answer: Answer) => void>();
  const results: string[] = [];

  /** One command to the attacker; resolves with its answer (failing if it could not do it). */
  function attack(cmd: string, args: Record<string, unknown> = {}): Promise<Answer> {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const waitMs = (typeof args.timeoutMs === "number" ? args.timeoutMs : 60_000) + 30_000;
      const timer = setTimeout(() => reject(new Error(`proxy: no answer to ${cmd}`)), waitMs);
      answers.set(id, (answer) => {
        clearTimeout(timer);
        if (answer.ok) resolve(answer);
        else reject(new Error(`proxy ${cmd}: ${answer.error}`));
      });
      proxy.stdin?.write(`${JSON.stringify({ id, cmd, ...args })}\n`);
    });
  }

  async function metrics(): Promise<(name: string, labels: string) => number> {
    const text = await exit.get("/metrics");
    return (name, labels) => {
      const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}} `));
      return line ? Number(line.split(" ").pop()) : 0;
    };
  }

  const frames = async (reason: string) =>
    (await metrics())("tether_exit_frames_dropped_total", `reason="${reason}"`);
  const handshakes = async (result: string) =>
    (await metrics())("tether_exit_handshakes_total", `result="${result}"`);

  /** What the laptop says (`tether status --json`, rewritten every second). */
  async function laptopStatus(): Promise<LaptopStatus> {
    const { stdout } = await topology.exec(
      "laptop",
      ["node", LAPTOP_CLI, "status", "--json", "--config-dir", laptop.configDir],
      { check: true },
    );
    return (JSON.parse(stdout) as { status: LaptopStatus }).status;
  }

  /** Polls the laptop's status until `done` holds (bounded). */
  async function laptopSays(done: (s: LaptopStatus) => boolean, what: string): Promise<LaptopStatus> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const status = await laptopStatus();
      if (done(status)) return status;
      if (Date.now() > deadline)
        throw new Error(`laptop: ${what} not seen; status ${JSON.stringify(status)}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  const legDrop = (s: LaptopStatus, reason: string) => s.legDrops[reason] ?? 0;

  /**
   * Polls an exit counter until it reaches `atLeast` (bounded), and returns it. A frame the proxy
   * sent towards the exit is counted there only once the page has relayed it: a read right after
   * the proxy's answer can come first.
   */
  async function exitCounts(read: () => Promise<number>, atLeast: number, what: string): Promise<number> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const count = await read();
      if (count >= atLeast) return count;
      if (Date.now() > deadline) throw new Error(`exit: ${what} not counted; ${count} < ${atLeast}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** A rate-limited download into the laptop namespace, hashed as it arrives. */
  function startTransfer(): Promise<void> {
    const name = `hostile-relay-${seed++}`;
    const child = topology.spawn("laptop", [
      "sh",
      "-c",
      `curl -sS --fail --max-time 90 --limit-rate ${TRANSFER_RATE} '${internet.url}/bytes/${TRANSFER_BYTES}?seed=${name}' | sha256sum`,
    ]);
    let out = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    return exitedCode(child, 120_000).then((code) => {
      if (code !== 0) throw new Error(`transfer failed (${code}): ${topology.logTail(child)}`);
      expect(out.split(" ")[0]).toBe(expectedSha256(TRANSFER_BYTES, name));
    });
  }

  /** The transfer has packets flowing through the page. */
  async function flowing(page: Parameters<typeof waitForRelay>[0]): Promise<void> {
    const { stats } = await waitForRelay(page, (s) => s.relaying && s.packetsDown > 0, "traffic");
    await waitForRelay(page, (s) => s.packetsDown > stats.packetsDown + 100, "the transfer to be under way");
  }

  function note(line: string): void {
    results.push(line);
    console.log(`[hostile-relay] ${line}`);
  }

  let page: Parameters<typeof waitForRelay>[0];

  beforeAll(async () => {
    topology = await createTopology({ tag: "hrelay" });
    internet = await startInternet(topology, { iperf3: false });
    exit = await startExit(topology);
    laptop = await startLaptop(topology, exit, await exit.addKey("hostile-relay-laptop"));
    const body = Buffer.concat([...payloadChunks(MARKER_BYTES, MARKER)]);
    const needles: Record<string, string> = {
      marker: Buffer.from(MARKER).toString("hex"),
      hello: Buffer.from(HELLO_TEXT).toString("hex"),
    };
    for (const at of BODY_SLICE_OFFSETS) {
      needles[`body@${at}`] = body.subarray(at, at + BODY_SLICE_BYTES).toString("hex");
    }
    const laptopHost = topology.addr.hotspot.laptop;
    proxy = recordOutput(
      topology.spawn(
        "laptop",
        [
          "node",
          "--import",
          "tsx",
          "e2e/hostile-relay-proxy.ts",
          JSON.stringify({
            host: laptopHost,
            port: PROXY_PORT,
            upstream: `wss://${laptopHost}:${LAPTOP_PORT}`,
            cert: `${laptop.configDir}/laptop-cert.pem`,
            key: `${laptop.configDir}/laptop-key.pem`,
            needles,
          }),
        ],
        { stdin: "pipe", cwd: ROOT },
      ),
    );
    if (!proxy.stdout) throw new Error("the proxy has no stdout");
    createInterface({ input: proxy.stdout }).on("line", (line) => {
      if (!line.startsWith("{")) return;
      const message = JSON.parse(line) as Answer;
      if (typeof message.id === "number") answers.get(message.id)?.(message);
    });
    await waitForOutput(proxy, /"event":"listening"/, "the hostile relay to listen");
    // The phone is given a link whose laptop address is the attacker's.
    const link = laptop.link.replace(
      encodeURIComponent(`wss://${laptopHost}:${LAPTOP_PORT}`),
      encodeURIComponent(`wss://${laptopHost}:${PROXY_PORT}`),
    );
    expect(link).not.toBe(laptop.link);
    const phone = await startPhone(topology, exit, laptop);
    page = await phone.open(link);
    const connected = await waitForOutput(
      laptop.process,
      /tether: connected \(address (10\.77\.0\.\d+)/,
      "the laptop to connect through the hostile relay",
    );
    address = connected[1]!;
  });

  afterAll(async () => {
    if (results.length > 0) console.log(`[hostile-relay] summary:\n  ${results.join("\n  ")}`);
    proxy?.stdin?.end();
    await topology?.destroy();
  });

  it("reads nothing: a marker sent through the tunnel, and the answers, never appear in a relayed message", async () => {
    const hello = await topology.exec("laptop", ["curl", "-sS", "--max-time", "10", `${internet.url}/hello`]);
    expect(hello.stdout).toContain(HELLO_TEXT);
    const sum = await topology.exec(
      "laptop",
      [
        "sh",
        "-c",
        `curl -sS --max-time 30 '${internet.url}/bytes/${MARKER_BYTES}?seed=${MARKER}' | sha256sum`,
      ],
      { check: true },
    );
    expect(sum.stdout.split(" ")[0]).toBe(expectedSha256(MARKER_BYTES, MARKER));
    // It did cross the tunnel in the clear inside the packets: the internet logged the marker.
    expect(topology.logTail(internet.processes.http)).toContain(MARKER);
    const report = await attack("report");
    const { toLaptop, toExit } = report.tally;
    expect(toLaptop.bytes).toBeGreaterThan(MARKER_BYTES);
    expect(report.hits).toEqual(Object.fromEntries(Object.keys(report.hits).map((k) => [k, 0])));
    // What it sees: the clear handshake and leg pings; every DATA sealed.
    expect(toLaptop.types["4"] ?? 0).toBe(0);
    expect(toExit.types["4"] ?? 0).toBe(0);
    expect(toExit.types["2"]).toBeGreaterThanOrEqual(1); // a HELLO (more if the page redialed)
    expect(toLaptop.types["8"]).toBeGreaterThanOrEqual(1); // a RESPONSE
    note(
      `read: ${toLaptop.messages + toExit.messages} messages (${toLaptop.bytes + toExit.bytes} bytes) recorded, ` +
        `${toLaptop.sealed + toExit.sealed} sealed; needles found: ${JSON.stringify(report.hits)}; ` +
        `marker logged by the internet, 1 MiB sha256 matches`,
    );
  });

  it("replays a captured frame both ways: refused as replayed and counted; the transfer hashes right", async () => {
    const before = { exit: await frames("replayed"), laptop: legDrop(await laptopStatus(), "replayed") };
    const transfer = startTransfer();
    await flowing(page);
    await attack("replay", { to: "toExit" });
    await attack("replay", { to: "toLaptop" });
    await exitCounts(() => frames("replayed"), before.exit + 1, "a replay refused");
    const status = await laptopSays((s) => legDrop(s, "replayed") > before.laptop, "a replay refused");
    await transfer;
    const exitCount = (await frames("replayed")) - before.exit;
    expect(exitCount).toBe(1);
    expect(legDrop(status, "replayed") - before.laptop).toBe(1);
    note(`replay: exit replayed +${exitCount}, laptop replayed +1; 6 MiB sha256 matches`);
  });

  it("flips bits (flags, counter, ciphertext, tag) both ways, ahead of the genuine frame: refused as forged, counted", async () => {
    const laptopBefore = await laptopStatus();
    const before = { exit: await frames("forged"), laptop: legDrop(laptopBefore, "forged") };
    const transfer = startTransfer();
    await flowing(page);
    // Flags (an unknown bit, authenticated as AD), counter, ciphertext, tag. Sent ahead of the
    // genuine frame, so its counter is new: only the tag can catch them, and it still opens after.
    const at = [1, 9, HEADER_BYTES + 12, -1];
    await attack("flip", { to: "toExit", at });
    await attack("flip", { to: "toLaptop", at });
    const status = await laptopSays(
      (s) => legDrop(s, "forged") >= before.laptop + at.length,
      "forgeries refused",
    );
    await transfer;
    const exitCount = (await frames("forged")) - before.exit;
    expect(exitCount).toBe(at.length);
    expect(legDrop(status, "forged") - before.laptop).toBe(at.length);
    expect(legDrop(status, "replayed")).toBe(legDrop(laptopBefore, "replayed"));
    note(`bit flips: exit forged +${exitCount}, laptop forged +${at.length}; 6 MiB sha256 matches`);
  });

  it("reorders: swapped frames both arrive; a frame held past the replay window is refused as too_old", async () => {
    const before = {
      tooOld: await frames("too_old"),
      replayed: await frames("replayed"),
      laptop: await laptopStatus(),
    };
    const transfer = startTransfer();
    await flowing(page);
    await attack("swap", { to: "toLaptop" });
    await attack("swap", { to: "toExit" });
    await transfer;
    expect(await frames("too_old")).toBe(before.tooOld);
    expect(await frames("replayed")).toBe(before.replayed);
    const swapped = await laptopStatus();
    expect(legDrop(swapped, "too_old")).toBe(legDrop(before.laptop, "too_old"));
    expect(legDrop(swapped, "replayed")).toBe(legDrop(before.laptop, "replayed"));
    // One frame each way held while more than a window of frames passes (a ping flood makes them).
    const held = Promise.all(
      (["toExit", "toLaptop"] as Direction[]).map((to) =>
        attack("hold", { to, frames: BEYOND_WINDOW, timeoutMs: FLOOD_MAX_MS }),
      ),
    );
    let released = false;
    void held.then(
      () => {
        released = true;
      },
      () => undefined,
    );
    const floodUntil = Date.now() + FLOOD_MAX_MS;
    while (!released && Date.now() < floodUntil) {
      await topology.exec(
        "laptop",
        ["ping", "-q", "-f", "-c", String(FLOOD_PINGS), "-w", "30", topology.addr.egress.internet],
        { timeoutMs: 40_000 },
      );
    }
    const passed = await held;
    const exitCount =
      (await exitCounts(() => frames("too_old"), before.tooOld + 1, "a frame too old refused")) -
      before.tooOld;
    const status = await laptopSays(
      (s) => legDrop(s, "too_old") > legDrop(before.laptop, "too_old"),
      "a frame too old refused",
    );
    expect(exitCount).toBe(1);
    expect(legDrop(status, "too_old") - legDrop(before.laptop, "too_old")).toBe(1);
    expect(legDrop(status, "replayed")).toBe(legDrop(before.laptop, "replayed"));
    note(
      `reorder: 2 swaps delivered (no drop, 6 MiB sha256 matches); frames held past ${passed.map((p) => p.passed).join(" / ")} ` +
        `later ones: exit too_old +${exitCount}, laptop too_old +1`,
    );
  }, 240_000);

  it("injects DATA with forged sources, clear and as a made-up seal: refused as unsealed and forged, delivered nowhere", async () => {
    const listeners = (["laptop", "internet"] as const).map((ns) =>
      recordOutput(
        topology.spawn(ns, [
          "node",
          "-e",
          `require("node:dgram").createSocket("udp4").on("message", (m, r) => console.log("got", r.address, String(m))).bind(${PROBE_PORT}, () => console.log("bound"))`,
        ]),
      ),
    );
    for (const listener of listeners) await waitForOutput(listener, /bound/, "a UDP listener");
    // The internet's listener works: a genuine packet from the laptop arrives.
    await topology.exec("laptop", [
      "bash",
      "-c",
      `echo genuine > /dev/udp/${topology.addr.egress.internet}/${PROBE_PORT}`,
    ]);
    await waitForOutput(listeners[1]!, /got \S+ genuine/, "the genuine packet at the internet");
    const before = {
      unsealed: await frames("unsealed"),
      forged: await frames("forged"),
      laptop: await laptopStatus(),
    };
    const udp = (source: string, destination: string) =>
      buildIpv4Udp({
        source,
        destination,
        sourcePort: PROBE_PORT,
        destinationPort: PROBE_PORT,
        payload: Buffer.from("forged"),
      });
    const data = (source: string, destination: string) =>
      Buffer.from(encodeFrame({ type: FrameType.DATA, packets: [udp(source, destination)] }));
    /** A DATA frame that claims to be sealed: counter and tag made up. */
    const madeUpSeal = (source: string, destination: string) => {
      const clear = data(source, destination);
      const sealed = Buffer.concat([clear, randomBytes(24)]);
      sealed[1] = HeaderFlag.SEALED;
      sealed.writeUInt32BE(clear.length - HEADER_BYTES + 24, 4);
      sealed.writeUInt32BE(0, HEADER_BYTES); // a counter well inside 2^53
      return sealed;
    };
    const internetAddress = topology.addr.egress.internet;
    const injected: [Direction, Buffer][] = [
      ["toLaptop", data(internetAddress, address)],
      ["toExit", data("10.77.0.99", internetAddress)], // another laptop's address
      ["toExit", data(address, internetAddress)], // this laptop's own, without its key
      ["toLaptop", madeUpSeal(internetAddress, address)],
      ["toExit", madeUpSeal(address, internetAddress)],
    ];
    for (const [to, frame] of injected) await attack("inject", { to, hex: frame.toString("hex") });
    const status = await laptopSays(
      (s) => legDrop(s, "forged") > legDrop(before.laptop, "forged"),
      "the made-up seal refused",
    );
    // A genuine packet after the injected ones: by the time it is in, they would have been too.
    await topology.exec("laptop", ["bash", "-c", `echo after > /dev/udp/${internetAddress}/${PROBE_PORT}`]);
    await waitForOutput(listeners[1]!, /got \S+ after/, "the genuine packet sent after");
    const unsealed = (await frames("unsealed")) - before.unsealed;
    const forged = (await frames("forged")) - before.forged;
    expect(unsealed).toBe(2);
    expect(forged).toBe(1);
    expect(legDrop(status, "unsealed") - legDrop(before.laptop, "unsealed")).toBe(1);
    expect(legDrop(status, "forged") - legDrop(before.laptop, "forged")).toBe(1);
    expect(outputOf(listeners[0]!)).not.toContain("forged");
    expect(outputOf(listeners[1]!)).not.toContain("forged");
    for (const listener of listeners) await topology.kill(listener);
    note(
      `inject: exit unsealed +${unsealed}, forged +${forged}; laptop unsealed +1, forged +1; ` +
        "no forged packet reached the laptop's or the internet's listener",
    );
  });

  /** The phone's exit leg killed (its socket destroyed, as a network drop would): the page redials it. */
  const killExitLeg = () =>
    topology.exec("phone", ["ss", "-K", "dst", topology.addr.carrier.exit, "dport", "=", String(EXIT_PORT)]);

  it("resumes with a token seen on another connection (its HELLO replayed): auth_failed, the laptop's own resume goes on", async () => {
    const transfer = startTransfer();
    await flowing(page);
    // A resume the attacker watches: its HELLO carries the token and proof, sealed.
    const seen = (await attack("report")).hellos as number;
    const { stats: beforeKill } = await waitForRelay(page, () => true, "stats");
    await killExitLeg();
    await waitForRelayDrop(page, beforeKill, "the relay to notice", 10_000);
    await waitForRelay(page, (s) => s.relaying, "relaying again", 30_000);
    expect((await attack("report")).hellos).toBe(seen + 1);
    const before = {
      authFailed: await handshakes("auth_failed"),
      resumed: await handshakes("resumed"),
      laptop: await laptopStatus(),
    };
    // Next connection: the laptop's HELLO is swapped for that resume's, seen one connection ago.
    const swapped = attack("substituteHello", { index: seen });
    const { stats: beforeSwap } = await waitForRelay(page, () => true, "stats");
    await killExitLeg();
    await swapped;
    await waitForRelayDrop(page, beforeSwap, "the relay to notice", 10_000);
    await waitForRelay(page, (s) => s.relaying, "relaying again after the refusal", 30_000);
    await transfer;
    const authFailed = (await handshakes("auth_failed")) - before.authFailed;
    const resumed = (await handshakes("resumed")) - before.resumed;
    expect(authFailed).toBe(1);
    expect(resumed).toBe(1);
    const status = await laptopSays((s) => s.state === "established", "established");
    expect(status.address).toBe(address);
    expect(laptop.process.exitCode).toBeNull();
    note(
      `resume with a seen token: exit auth_failed +${authFailed}, then the laptop's own resume (resumed +${resumed}); ` +
        `laptop unsealed (the exit's clear refusal, not believed) +${legDrop(status, "unsealed") - legDrop(before.laptop, "unsealed")}; ` +
        `address ${status.address} kept; 6 MiB sha256 matches`,
    );
  });

  it("closes with 4401, as a made-up CLOSE and as the close code of both legs: never fatal, the same session resumes", async () => {
    const forgedClose = Buffer.from(
      encodeFrame({ type: FrameType.CLOSE, code: ErrorCodes.AUTH_FAILED.close, reason: "AUTH_FAILED" }),
    );
    const before = { unsealed: await frames("unsealed"), laptop: await laptopStatus() };
    const transfer = startTransfer();
    await flowing(page);
    await attack("inject", { to: "toLaptop", hex: forgedClose.toString("hex") });
    await attack("inject", { to: "toExit", hex: forgedClose.toString("hex") });
    const status = await laptopSays(
      (s) => legDrop(s, "unsealed") > legDrop(before.laptop, "unsealed"),
      "the made-up CLOSE refused",
    );
    expect(status.state).toBe("established");
    const unsealed =
      (await exitCounts(() => frames("unsealed"), before.unsealed + 1, "the made-up CLOSE refused")) -
      before.unsealed;
    expect(unsealed).toBe(1);
    const resumedBefore = await handshakes("resumed");
    const newBefore = await handshakes("ok");
    const welcomes = (outputOf(laptop.process).match(/tether: connected/g) ?? []).length;
    await attack("close", { code: ErrorCodes.AUTH_FAILED.close });
    await waitForOutput(laptop.process, /relay lost: AUTH_FAILED/, "the laptop to lose its relay");
    await waitForRelay(page, (s) => s.relaying, "relaying again", 30_000);
    await transfer;
    const after = await laptopSays((s) => s.state === "established", "established again");
    expect(after.address).toBe(address);
    // The same session, resumed (the page may take more than one exit connection to get there),
    // and never a new one.
    const resumed = (await handshakes("resumed")) - resumedBefore;
    expect(resumed).toBeGreaterThanOrEqual(1);
    expect(await handshakes("ok")).toBe(newBefore);
    expect((outputOf(laptop.process).match(/tether: connected/g) ?? []).length).toBeGreaterThan(welcomes);
    expect(laptop.process.exitCode).toBeNull();
    note(
      `close 4401: made-up CLOSE refused (laptop unsealed +1, exit unsealed +${unsealed}); both legs closed with 4401: ` +
        `laptop waited and resumed (resumed +${resumed}, no new session), address ${after.address} kept, still running; 6 MiB sha256 matches`,
    );
  });
});
