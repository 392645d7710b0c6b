// The exit's option table: each flag's refusals by code, the same through the environment.
import { describe, expect, it } from "vitest";
import { codeOf } from "../cli/errors.js";
import { defaultsOf, readArgv, readEnv } from "../cli/options.js";
import { EXIT_OPTIONS, exitOptions } from "./cli-options.js";
import { EXIT_DEFAULTS } from "./exit.js";

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return codeOf(error, "no code");
  }
  return "accepted";
}

describe("the exit's options", () => {
  it("reads each flag into the value startExit wants", () => {
    const { flags } = readArgv(EXIT_OPTIONS, [
      "--listen",
      "[::1]:9443",
      "--dns",
      "1.1.1.1,9.9.9.9",
      "--grace",
      "0",
      "--allow-egress",
      "10.0.0.0/24,192.0.2.7",
      "--metrics-allow",
      "any",
      "--session-rate-limit",
      "2.5",
      "--deny-egress",
      "203.0.113.0/24",
      "--public-address",
      "198.51.100.7,2001:db8::7",
    ]);
    expect(flags.denyEgress?.map((c) => c.length)).toEqual([24]);
    expect(flags.publicAddresses).toEqual(["198.51.100.7", "2001:db8::7"]);
    expect(flags).toMatchObject({
      listen: { host: "::1", port: 9443 },
      dns: ["1.1.1.1", "9.9.9.9"],
      graceMs: 0,
      metricsAllow: "any",
      sessionRateLimitMbit: 2.5,
    });
    expect(flags.allowEgress?.map((c) => c.length)).toEqual([24, 32]);
  });

  it("reads the proxy, metrics and per-source limit flags into startExit's options", async () => {
    const { flags } = readArgv(EXIT_OPTIONS, [
      "--trusted-proxy",
      "127.0.0.1,fd00::/8",
      "--metrics-listen",
      "[::1]:9500",
      "--max-handshakes-per-source",
      "2",
      "--max-connections-per-source",
      "16",
      "--dns",
      "1.1.1.1",
    ]);
    const options = await exitOptions({ ...defaultsOf(EXIT_OPTIONS), ...flags });
    expect(options.trustedProxies?.map((c) => c.length)).toEqual([32, 8]);
    expect(options.metricsListen).toEqual({ host: "::1", port: 9500 });
    expect(options.limits).toMatchObject({ maxHandshakesPerSource: 2, maxConnectionsPerSource: 16 });
    const off = readArgv(EXIT_OPTIONS, ["--metrics-listen", "off", "--dns", "1.1.1.1"]).flags;
    expect((await exitOptions({ ...defaultsOf(EXIT_OPTIONS), ...off })).metricsListen).toBe("off");
    const defaults = await exitOptions({ ...defaultsOf(EXIT_OPTIONS), dns: ["1.1.1.1"] });
    expect(defaults.metricsListen).toEqual({ host: "127.0.0.1", port: 9464 }); // this machine only
    expect(refusal(() => readArgv(EXIT_OPTIONS, ["--trusted-proxy", "10.0.0.1/8"]))).toBe("IP_HOST_BITS");
    expect(refusal(() => readArgv(EXIT_OPTIONS, ["--metrics-listen", "nowhere"]))).toBe("USAGE_BAD_VALUE");
  });

  it("splits IPv6 DNS servers and egress prefixes from the IPv4 ones, and reads the IPv6 pool", async () => {
    const { flags } = readArgv(EXIT_OPTIONS, [
      "--dns",
      "198.51.100.2,2001:db8:e::2",
      "--allow-egress",
      "198.51.100.0/24,2001:db8:e::/64",
      "--deny-egress",
      "2001:db8:e:dead::/64",
      "--pool6",
      "2001:db8:77::/64",
      "--pool6-routed",
    ]);
    const options = await exitOptions(flags);
    expect(options).toMatchObject({
      dns: ["198.51.100.2"],
      dns6: ["2001:db8:e::2"],
      pool6: "2001:db8:77::/64",
      pool6Routed: true,
    });
    expect(options.allowEgress?.map((c) => c.family)).toEqual([4]);
    expect(options.allowEgress6?.map((c) => c.length)).toEqual([64]);
    expect(options.denyEgress).toEqual([]);
    expect(options.denyEgress6?.map((c) => c.length)).toEqual([64]);
    expect((await exitOptions(readArgv(EXIT_OPTIONS, ["--pool6", "off"]).flags)).pool6).toBe("off");
  });

  it("defaults to what the exit has always defaulted to", () => {
    expect(defaultsOf(EXIT_OPTIONS)).toMatchObject({
      listen: { host: EXIT_DEFAULTS.host, port: EXIT_DEFAULTS.port },
      pool: EXIT_DEFAULTS.pool,
      mtu: EXIT_DEFAULTS.mtu,
      graceMs: EXIT_DEFAULTS.graceMs,
    });
  });

  it.each([
    [["--pool", "10.0.0.0/33"], "IP_BAD_PREFIX"],
    [["--pool", "10.0.0.0/8"], "POOL_SIZE"],
    [["--pool", "10.77.0.1/16"], "IP_HOST_BITS"],
    [["--dns", "010.1.1.1"], "IP_BAD_ADDRESS"],
    [["--dns", "1.1.1.1,256.0.0.1"], "IP_BAD_ADDRESS"],
    [["--dns", "2001:db8::g"], "IP_BAD_ADDRESS"],
    [["--pool6", "10.77.0.0/16"], "IP_WRONG_FAMILY"],
    [["--pool6", "2001:db8::/48"], "POOL_SIZE"],
    [["--pool6", "fd77::1/64"], "IP_HOST_BITS"],
    [["--allow-egress", "10.0.0.0/08"], "IP_BAD_PREFIX"],
    [["--allow-egress", "192.168.1.77/24"], "IP_HOST_BITS"],
    [["--metrics-allow", "fd00::/8"], "IP_WRONG_FAMILY"],
    [["--deny-egress", "203.0.113.1/24"], "IP_HOST_BITS"],
    [["--public-address", "198.51.100.07"], "IP_BAD_ADDRESS"],
    [["--listen", "8443"], "USAGE_BAD_VALUE"],
    [["--listen", "0.0.0.0:99999"], "USAGE_BAD_VALUE"],
    [["--listen", "010.0.0.1:8443"], "IP_BAD_ADDRESS"],
    [["--mtu", "12"], "USAGE_BAD_VALUE"],
    [["--grace", "86401"], "USAGE_BAD_VALUE"],
    [["--handshake-timeout", "0"], "USAGE_BAD_VALUE"],
    [["--max-sessions", "-1"], "USAGE_BAD_OPTION"],
    [["--max-sessions", "1e3"], "USAGE_BAD_VALUE"],
    [["--session-rate-limit", "fast"], "USAGE_BAD_VALUE"],
    [["--log-level", "loud"], "USAGE_BAD_VALUE"],
    [["--egress", "eth0; reboot"], "USAGE_BAD_VALUE"],
  ])("refuses %j with %s", (argv, code) => {
    expect(refusal(() => readArgv(EXIT_OPTIONS, argv))).toBe(code);
  });

  it("refuses the same values from the environment", () => {
    expect(refusal(() => readEnv(EXIT_OPTIONS, { TETHER_EXIT_DNS: "010.1.1.1" }))).toBe("IP_BAD_ADDRESS");
    expect(refusal(() => readEnv(EXIT_OPTIONS, { TETHER_MAX_PACKETS_PER_FRAME: "0" }))).toBe(
      "USAGE_BAD_VALUE",
    );
  });
});
