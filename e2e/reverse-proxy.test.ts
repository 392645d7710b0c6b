// The exit behind a real reverse proxy (Debian's HAProxy, e2e/reverse-proxy.ts), deployed as the
// README says: TLS ends at the proxy, the exit listens on 127.0.0.1 in plain HTTP with
// `--trusted-proxy 127.0.0.1`. Every client then arrives from 127.0.0.1; the exit must still count
// and log each by its own address (from the proxy's X-Forwarded-For, or its PROXY v2 header), so
// that one address failing handshakes does not lock out every other laptop behind the same proxy,
// while what a client writes itself (its own X-Forwarded-For, its own PROXY line) names nobody.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCodes } from "../protocol/errors.js";
import { until } from "../testing/until.js";
import { type Exit, outputOf, pairPhone, ROOT, startLaptop } from "./chain.js";
import { expectedSha256, type Internet, startInternet } from "./internet.js";
import { canRunPrivileged } from "./privileged.js";
import { exitLogLines, type ReverseProxy, startExitBehindProxy, startReverseProxy } from "./reverse-proxy.js";
import type { Attempt, Outcome } from "./reverse-proxy-client.js";
import { createTopology, type Topology } from "./topology.js";

/** Addresses on the phone namespace's carrier link besides the phone's own (203.0.113.2). */
const ATTACKER = "203.0.113.66";
const OTHER = "203.0.113.67";
/** The address the attacker claims in headers of its own. */
const CLAIMED = "203.0.113.99";
/** Failed handshakes a source may have (low, so the attacker is out at once); none come back in the run. */
const BURST = 3;
const BURST_INTERVAL_S = 600;
const FILE_BYTES = 8 * 1024 * 1024;
/** The proxy's address, as the exit sees its connections. */
const PROXY = "127.0.0.1";
const FOREIGN_ORIGIN = "https://elsewhere.example";

const close = (code: keyof typeof ErrorCodes) => ErrorCodes[code].close;

/** A log line's `remote` for a client seen through the proxy: "CLIENT via 127.0.0.1:PORT". */
const via = (client: string) =>
  new RegExp(`^${client.replaceAll(".", "\\.")} via ${PROXY.replaceAll(".", "\\.")}:\\d+$`);

function metric(text: string, name: string, labels: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}} `));
  return line ? Number(line.split(" ").pop()) : 0;
}

describe.skipIf(!canRunPrivileged)("the exit behind a real reverse proxy, HAProxy (needs root)", () => {
  let topology: Topology;
  let internet: Internet;
  let proxy: ReverseProxy;
  let exit: Exit;
  let laptopKey: string;
  let otherKey: string;
  let wrongKey: string;

  /** The attempts, one after the other, from the phone namespace; what each got. */
  const attempt = async (...attempts: Attempt[]): Promise<Outcome[]> => {
    const { stdout, stderr, code } = await topology.exec(
      "phone",
      ["node", "--import", "tsx", "e2e/reverse-proxy-client.ts", JSON.stringify(attempts)],
      { cwd: ROOT, timeoutMs: 60_000 },
    );
    if (code !== 0) throw new Error(`reverse-proxy-client failed (${code}):\n${stderr}\n${stdout}`);
    return JSON.parse(stdout.trim().split("\n").pop()!) as Outcome[];
  };
  const handshake = (
    url: string,
    bind: string,
    key: string,
    extra: { origin?: string; headers?: Record<string, string> } = {},
  ): Attempt => ({ kind: "handshake", url: `${url.replace(/^https/, "wss")}/tunnel`, bind, key, ...extra });
  /** The exit's log lines with this message, from `from` in its output. */
  const logLines = (msg: string, from: number) => exitLogLines(outputOf(exit.process).slice(from), msg);
  /**
   * The `remote` of those lines once there are `count`: the exit logs before it answers, but its
   * output comes through a pipe of its own, which this process may read after the client's answer.
   */
  const remotes = (msg: string, from: number, count: number, client?: string) =>
    until(() => {
      const lines = logLines(msg, from).filter((l) => client === undefined || l.client === client);
      return lines.length >= count && lines.map((l) => String(l.remote));
    }, `${count} exit log lines "${msg}"`);

  beforeAll(async () => {
    topology = await createTopology({ tag: "rproxy" });
    for (const address of [ATTACKER, OTHER]) {
      await topology.exec(
        "phone",
        ["ip", "addr", "add", `${address}/24`, "dev", topology.ifname.phone.carrier],
        { check: true },
      );
    }
    internet = await startInternet(topology, { iperf3: false });
    proxy = await startReverseProxy(topology);
    exit = await startExitBehindProxy(topology, proxy, [
      "--failed-handshake-burst",
      String(BURST),
      "--failed-handshake-interval",
      String(BURST_INTERVAL_S),
      "--log-level",
      "debug", // RATE_LIMITED refusals are logged at debug only
    ]);
    laptopKey = await exit.addKey("proxied-laptop");
    otherKey = await exit.addKey("other-laptop");
    wrongKey = `other-laptop:${Buffer.alloc(32, 1).toString("base64url")}`;
    console.log(
      `[reverse-proxy] HAProxy ${proxy.origin} (X-Forwarded-For), ${proxy.proxyProtocolOrigin} (PROXY v2) -> exit http://${PROXY}:8080`,
    );
  });

  afterAll(async () => {
    await topology?.destroy();
  });

  it("rate-limits one address failing handshakes through the proxy, not the proxy's address: others get in on both ports", async () => {
    const from = outputOf(exit.process).length;
    const outcomes = await attempt(
      ...Array.from({ length: BURST + 1 }, () => handshake(proxy.origin, ATTACKER, wrongKey)),
      handshake(proxy.proxyProtocolOrigin, ATTACKER, wrongKey),
      // Then another address behind the same proxy, on each port.
      handshake(proxy.origin, OTHER, otherKey),
      handshake(proxy.proxyProtocolOrigin, OTHER, otherKey),
    );
    const failing = outcomes.slice(0, BURST + 2).map((o) => o.close);
    const others = outcomes.slice(BURST + 2).map((o) => o.welcomed);
    console.log(
      `[reverse-proxy] ${ATTACKER}, a wrong key x${BURST + 2}: closes ${JSON.stringify(failing)}; ${OTHER}, its key (XFF port, PROXY v2 port): welcomed ${JSON.stringify(others)}`,
    );
    // Its burst, then refused, on the PROXY-protocol port too: the same source either way.
    expect(failing).toEqual([
      ...new Array(BURST).fill(close("AUTH_FAILED")),
      close("RATE_LIMITED"),
      close("RATE_LIMITED"),
    ]);
    expect(others).toEqual([true, true]);
    const refused = await remotes("connection refused", from, BURST + 2);
    const sessions = await remotes("session started", from, 2);
    const metrics = await exit.get("/metrics");
    console.log(
      `[reverse-proxy] the exit's log: refused ${JSON.stringify(refused)}; sessions ${JSON.stringify(sessions)}`,
    );
    // Every line names the client, seen through a connection of the proxy's.
    expect(refused).toEqual(new Array(BURST + 2).fill(expect.stringMatching(via(ATTACKER))));
    expect(sessions).toEqual([expect.stringMatching(via(OTHER)), expect.stringMatching(via(OTHER))]);
    expect(metric(metrics, "tether_exit_handshakes_total", 'result="auth_failed"')).toBe(BURST);
    expect(metric(metrics, "tether_exit_refusals_total", 'reason="failed_handshakes"')).toBe(2);
  });

  it("lets the phone's page relay a laptop through the proxy while that address stays rate-limited; the exit names the phone", async () => {
    const from = outputOf(exit.process).length;
    const laptop = await startLaptop(topology, exit, laptopKey);
    const { page } = await pairPhone(topology, exit, laptop);
    expect(page.url().startsWith(`${proxy.origin}/`)).toBe(true); // the app itself came through the proxy
    const url = `${internet.url}/bytes/${FILE_BYTES}?seed=proxied`;
    const started = Date.now();
    const { stdout, code, stderr } = await topology.exec(
      "laptop",
      ["sh", "-c", `curl -sS --fail --max-time 60 '${url}' | sha256sum`],
      { timeoutMs: 70_000 },
    );
    const seconds = (Date.now() - started) / 1000;
    const sessions = await remotes("session started", from, 1, "proxied-laptop");
    const [stillLimited] = await attempt(handshake(proxy.origin, ATTACKER, otherKey));
    console.log(
      `[reverse-proxy] a laptop through Chromium -> HAProxy -> exit: ${FILE_BYTES} bytes in ${seconds.toFixed(1)} s, sha256 ${stdout.split(" ")[0]}; ` +
        `its session in the exit's log: ${JSON.stringify(sessions)}; ${ATTACKER} meanwhile, with a good key: close ${stillLimited?.close}`,
    );
    expect(code, stderr).toBe(0);
    expect(stdout.split(" ")[0]).toBe(expectedSha256(FILE_BYTES, "proxied"));
    for (const remote of sessions) expect(remote).toMatch(via(topology.addr.carrier.phone));
    // Its own good key does not help it: its address is out, and only its address.
    expect(stillLimited?.close).toBe(close("RATE_LIMITED"));
  });

  it("believes only the proxy: a client's own X-Forwarded-For or PROXY header does not choose its address", async () => {
    const from = outputOf(exit.process).length;
    const claims = { headers: { "X-Forwarded-For": CLAIMED } };
    const proxyLine = (origin: string) =>
      `PROXY TCP4 ${CLAIMED} ${topology.addr.carrier.exit} 40000 ${new URL(origin).port}\r\n` +
      `GET /tunnel HTTP/1.1\r\nHost: ${new URL(origin).host}\r\n\r\n`;
    const outcomes = await attempt(
      // The rate-limited attacker claiming a fresh address, through either port, with a good key.
      handshake(proxy.origin, ATTACKER, otherKey, claims),
      handshake(proxy.proxyProtocolOrigin, ATTACKER, otherKey, claims),
      // Another client claiming to be the attacker is not refused in its name.
      handshake(proxy.origin, OTHER, otherKey, { headers: { "X-Forwarded-For": ATTACKER } }),
      // Its own PROXY header: HAProxy's HTTP side refuses the request; behind the PROXY v2 port it
      // is only a request that is not HTTP, after the proxy's own header.
      { kind: "raw", url: proxy.origin, bind: ATTACKER, request: proxyLine(proxy.origin) },
      {
        kind: "raw",
        url: proxy.proxyProtocolOrigin,
        bind: ATTACKER,
        request: proxyLine(proxy.proxyProtocolOrigin),
      },
    );
    const [xffPort, v2Port, framing, rawHttp, rawV2] = outcomes;
    const refused = await remotes("connection refused", from, 2);
    const sessions = await remotes("session started", from, 1, "other-laptop");
    console.log(`[reverse-proxy] own headers: ${JSON.stringify(outcomes)}`);
    console.log(
      `[reverse-proxy] the exit's log: refused ${JSON.stringify(refused)}; sessions ${JSON.stringify(sessions)}`,
    );
    expect(xffPort?.close).toBe(close("RATE_LIMITED"));
    expect(v2Port?.close).toBe(close("RATE_LIMITED"));
    expect(refused).toEqual([expect.stringMatching(via(ATTACKER)), expect.stringMatching(via(ATTACKER))]);
    expect(framing?.welcomed).toBe(true);
    expect(sessions).toEqual([expect.stringMatching(via(OTHER))]);
    expect(rawHttp?.status).toBe(400); // HAProxy's answer
    expect(rawV2?.status).toBe(400); // the exit's
    expect(outputOf(exit.process).slice(from)).not.toContain(CLAIMED);
    expect(exit.process.exitCode).toBeNull();
  });

  it("refuses another site's page through the proxy (403) while the app's own origin passes, on both ports; no /metrics there", async () => {
    const foreign = async () =>
      metric(await exit.get("/metrics"), "tether_exit_refusals_total", 'reason="foreign_origin"');
    const before = await foreign();
    const outcomes = await attempt(
      handshake(proxy.origin, OTHER, otherKey, { origin: FOREIGN_ORIGIN }),
      handshake(proxy.proxyProtocolOrigin, OTHER, otherKey, { origin: FOREIGN_ORIGIN }),
      handshake(proxy.origin, OTHER, otherKey, { origin: proxy.origin }),
      handshake(proxy.proxyProtocolOrigin, OTHER, otherKey, { origin: proxy.proxyProtocolOrigin }),
      // Every proxied client comes from 127.0.0.1, but /metrics has a listener of its own.
      {
        kind: "raw",
        url: proxy.origin,
        bind: OTHER,
        request: `GET /metrics HTTP/1.1\r\nHost: ${new URL(proxy.origin).host}\r\n\r\n`,
      },
    );
    const refusals = (await foreign()) - before;
    const answers = outcomes.map((o) => o.status ?? (o.welcomed ? "welcomed" : `close ${o.close}`));
    console.log(
      `[reverse-proxy] origin ${FOREIGN_ORIGIN} x2, the app's x2, GET /metrics: ${JSON.stringify(answers)}; foreign_origin refusals +${refusals}`,
    );
    expect(answers).toEqual([403, 403, "welcomed", "welcomed", 404]);
    expect(refusals).toBe(2);
  });
});
