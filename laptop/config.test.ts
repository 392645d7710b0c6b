import { describe, expect, it } from "vitest";
import { ConfigError, configFromEnv, LAPTOP_DEFAULTS, resolveConfig } from "./config.js";

const base = { exit: "wss://exit.example", key: "laptop:abc" };

describe("laptop configuration", () => {
  it("layers defaults < file < environment < flags", () => {
    const config = resolveConfig(
      "/cfg",
      { ...base, port: 1111, tunName: "fromfile" },
      { port: 2222 },
      { port: 3333 },
    );
    expect(config.port).toBe(3333);
    expect(config.tunName).toBe("fromfile");
    expect(config.dns).toBe(LAPTOP_DEFAULTS.dns);
    expect(config.configDir).toBe("/cfg");
  });

  it("reads the environment, leaving unset variables out", () => {
    const env = configFromEnv({
      TETHER_EXIT: "wss://e",
      TETHER_PORT: "9443",
      TETHER_DNS: "0",
      TETHER_LISTEN: "a, b",
    });
    expect(env).toEqual({ exit: "wss://e", port: 9443, dns: false, listen: ["a", "b"] });
  });

  it("says which setting is missing when there is no exit or key", () => {
    expect(() => resolveConfig("/cfg", {}, {}, { key: "k:v" })).toThrow(/--exit/);
    expect(() => resolveConfig("/cfg", {}, {}, { exit: "wss://e" })).toThrow(/--key/);
    expect(() => resolveConfig("/cfg", {}, {}, { exit: "wss://e" })).toThrow(ConfigError);
  });

  it("refuses a port out of range and a bad interface name", () => {
    expect(() => resolveConfig("/cfg", base, {}, { port: 70000 })).toThrow(/--port/);
    expect(() => resolveConfig("/cfg", base, {}, { tunName: "a name with spaces" })).toThrow(/TUN name/);
  });
});
