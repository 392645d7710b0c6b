import { afterEach, describe, expect, it } from "vitest";
import { LaptopTunnel, type TunnelError } from "../laptop/tunnel.js";
import { formatClientKey, parseClientKey } from "../protocol/client-key.js";
import type { Encoding } from "../protocol/encoding.js";
import {
  formatIpv4 as intToIpv4,
  ipv4Destination,
  ipv4Source,
  tryParseIpv4 as ipv4ToInt,
} from "../protocol/ip.js";
import { type TestRelay, testRelay } from "../testing/relay.js";
import { startTestExit } from "../testing/test-exit.js";
import { until } from "../testing/until.js";
import { createFakeTun, type FakeTun } from "../tun/fake.js";
import { EXIT_DEFAULTS, type RunningExit } from "./exit.js";

function ipv4Packet(source: string, destination: string, payload = 8): Uint8Array {
  const packet = new Uint8Array(20 + payload);
  packet[0] = 0x45;
  packet[2] = packet.length >> 8;
  packet[3] = packet.length & 255;
  packet[8] = 64;
  packet[9] = 17;
  new DataView(packet.buffer).setUint32(12, ipv4ToInt(source)!);
  new DataView(packet.buffer).setUint32(16, ipv4ToInt(destination)!);
  return packet;
}

interface Chain {
  exit: RunningExit;
  exitTun: FakeTun;
  laptopTun: FakeTun;
  tunnel: LaptopTunnel;
  fatal: TunnelError[];
  /** The laptop's state details, in order (what its status line said). */
  details: string[];
  phone: TestRelay;
  close(): Promise<void>;
  redialExit(): Promise<void>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function chain(
  options: { key?: string; encoding?: Encoding; graceMs?: number; welcome?: () => Promise<void> } = {},
): Promise<Chain> {
  const {
    exit,
    tun: exitTun,
    key: laptopKey,
  } = await startTestExit(cleanups, {
    graceMs: options.graceMs ?? EXIT_DEFAULTS.graceMs,
  });

  const laptopTun = createFakeTun("laptop-fake");
  const fatal: TunnelError[] = [];
  const details: string[] = [];
  const key = parseClientKey(options.key ?? laptopKey);
  const tunnel = new LaptopTunnel(laptopTun, key, {
    welcome: options.welcome ?? (async () => undefined),
    state: (_state, detail) => details.push(detail ?? ""),
    fatal: (error) => fatal.push(error),
  });
  const encoding = options.encoding ?? "binary";
  const phone = testRelay();
  tunnel.attach(phone.laptopLeg, encoding, "test-phone");
  exit.accept(phone.exitLeg, encoding, "127.0.0.1");
  const close = async () => phone.close();
  cleanups.push(close);
  // The phone's exit leg drops (as with `ss -K`) and is dialed again, the laptop leg staying up.
  const redialExit = async () => {
    const exitLeg = phone.redialExit();
    await until(() => exit.sessions.attached === 0 || undefined, "the exit to see the leg go");
    exit.accept(exitLeg, encoding, "127.0.0.1");
  };
  return { exit, exitTun, laptopTun, tunnel, fatal, details, phone, close, redialExit };
}

describe("the laptop's tunnel end and the exit, through a relay", () => {
  for (const encoding of ["binary", "base64"] as const) {
    it(`carries packets both ways once the exit has welcomed the laptop (${encoding} frames)`, async () => {
      const { tunnel, laptopTun, exitTun, exit } = await chain({ encoding });
      const welcome = await until(() => tunnel.state === "established" && tunnel.welcome, "WELCOME");
      expect(welcome.address).toBe("10.77.0.2");
      expect(welcome.dns).toEqual(["198.51.100.53"]);
      expect(welcome.mtu).toBe(EXIT_DEFAULTS.mtu);

      laptopTun.inject([
        ipv4Packet(welcome.address, "198.51.100.2"),
        ipv4Packet(welcome.address, "198.51.100.3"),
      ]);
      await until(() => exitTun.written.length === 2 || undefined, "packets at the exit's TUN");
      expect(intToIpv4(ipv4Destination(exitTun.written[1]!))).toBe("198.51.100.3");

      exitTun.inject([ipv4Packet("198.51.100.2", welcome.address, 1000)]);
      const down = await until(() => laptopTun.written[0], "a packet at the laptop's TUN");
      expect(down.length).toBe(1020);
      expect(intToIpv4(ipv4Source(down))).toBe("198.51.100.2");
      const metrics = await exit.metrics.registry.getSingleMetricAsString("tether_exit_packets_total");
      expect(metrics).toContain('direction="up"} 2');
      expect(metrics).toContain('direction="down"} 1');
    });
  }

  it("refuses a laptop with a wrong key, and the laptop reports AUTH_FAILED as fatal", async () => {
    const wrong = formatClientKey("laptop-1", Buffer.alloc(32, 7).toString("base64url"));
    const { tunnel, fatal, exit } = await chain({ key: wrong });
    const error = await until(() => fatal[0], "the refusal");
    expect(error.code).toBe("AUTH_FAILED");
    expect(tunnel.state).not.toBe("established");
    const handshakes = await exit.metrics.registry.getSingleMetricAsString("tether_exit_handshakes_total");
    expect(handshakes).toContain('result="auth_failed"} 1');
  });

  it("drops a packet whose source is not the session's address, and counts it", async () => {
    const { tunnel, laptopTun, exitTun, exit } = await chain();
    const welcome = await until(() => tunnel.state === "established" && tunnel.welcome, "WELCOME");
    laptopTun.inject([ipv4Packet("10.77.0.99", "198.51.100.2"), ipv4Packet(welcome.address, "198.51.100.2")]);
    await until(() => exitTun.written.length === 1 || undefined, "the honest packet");
    const drops = await exit.metrics.registry.getSingleMetricAsString("tether_exit_drops_total");
    expect(drops).toContain('reason="spoofed_source"} 1');
  });

  it("drops packets from the internet for an address no session holds", async () => {
    const { tunnel, exitTun, exit } = await chain();
    await until(() => tunnel.state === "established" || undefined, "WELCOME");
    exitTun.inject([ipv4Packet("198.51.100.2", "10.77.0.200")]);
    const drops = await exit.metrics.registry.getSingleMetricAsString("tether_exit_drops_total");
    expect(drops).toContain('reason="no_session"} 1');
  });

  it("resumes the same session, address and all, when the phone's exit leg is dialed again; what came for it meanwhile follows the WELCOME", async () => {
    const { tunnel, laptopTun, exitTun, exit, redialExit } = await chain();
    const first = await until(() => tunnel.state === "established" && tunnel.welcome, "WELCOME");
    await redialExit();
    expect(exit.sessions.attached).toBe(0);
    exitTun.inject([ipv4Packet("198.51.100.2", first.address, 11)]); // while detached: held a moment
    const second = await until(
      () => tunnel.welcome !== first && tunnel.state === "established" && tunnel.welcome,
      "a second WELCOME",
    );
    expect(second.resumed).toBe(true);
    expect(second.address).toBe(first.address);
    await until(() => laptopTun.written.length === 1 || undefined, "the held packet, after the resume");
    expect(laptopTun.written[0]).toHaveLength(31);
    laptopTun.inject([ipv4Packet(second.address, "198.51.100.2")]);
    await until(() => exitTun.written.length === 1 || undefined, "a packet after the resume");
    const handshakes = await exit.metrics.registry.getSingleMetricAsString("tether_exit_handshakes_total");
    expect(handshakes).toContain('result="resumed"} 1');
    const drops = await exit.metrics.registry.getSingleMetricAsString("tether_exit_drops_total");
    expect(drops).not.toContain('reason="detached"');
    expect(exit.sessions.size).toBe(1);
  });

  it("starts a new session when the one to resume has expired, and says so", async () => {
    const { tunnel, exit, redialExit } = await chain({ graceMs: 0 });
    const first = await until(() => tunnel.state === "established" && tunnel.welcome, "WELCOME");
    await redialExit();
    await until(() => exit.sessions.size === 0 || undefined, "the detached session to expire");
    const second = await until(
      () => tunnel.welcome !== first && tunnel.state === "established" && tunnel.welcome,
      "a second WELCOME",
    );
    expect(second.resumed).toBe(false);
    expect(second.resumeToken).not.toEqual(first.resumeToken);
    const handshakes = await exit.metrics.registry.getSingleMetricAsString("tether_exit_handshakes_total");
    expect(handshakes).toContain('result="expired"} 1');
  });

  it("keeps the last good state when the laptop refuses the exit's configuration, and ends that leg", async () => {
    const { tunnel, details, phone, fatal } = await chain({
      welcome: async () => {
        throw new Error("ROUTES_BAD_ADDRESS: 10.77.0.2 is on this laptop's own network");
      },
    });
    await until(() => phone.phoneToLaptop.closed, "the laptop leg to close");
    expect(phone.phoneToLaptop.closed?.code).toBe(4404); // BAD_FIELD
    expect(tunnel.state).not.toBe("established");
    expect(tunnel.welcome).toBeUndefined();
    expect(details.some((d) => d.includes("ROUTES_BAD_ADDRESS"))).toBe(true);
    expect(fatal).toEqual([]);
  });
});
