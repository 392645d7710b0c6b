import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { codeOf } from "../cli/errors.js";
import { readArgv } from "../cli/options.js";
import {
  configFromEnv,
  defaultConfigDir,
  HOMELESS_CONFIG_DIR,
  LAPTOP_DEFAULTS,
  LAPTOP_OPTIONS,
  readConfigFile,
  resolveConfig,
} from "./config.js";

const base = { exit: "wss://exit.example", key: "laptop:abc" };
const dir = mkdtempSync(join(tmpdir(), "tether-config-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return codeOf(error, "no code");
  }
  return "accepted";
}

async function fileRefusal(json: string): Promise<string> {
  writeFileSync(join(dir, "config.json"), json);
  return readConfigFile(dir).then(
    () => "accepted",
    (error: unknown) => codeOf(error, "no code"),
  );
}

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

  it("reads the environment through the table, leaving unset variables out", () => {
    const env = configFromEnv({
      TETHER_EXIT: "wss://e",
      TETHER_PORT: "9443",
      TETHER_DNS: "0",
      TETHER_LISTEN: "10.0.0.2, ::1",
    });
    expect(env).toEqual({ exit: "wss://e", port: 9443, dns: false, listen: ["10.0.0.2", "::1"] });
  });

  it("reads the flags through the same table, --allow-origin repeatable", () => {
    const { flags } = readArgv(LAPTOP_OPTIONS, [
      "--no-dns",
      "--allow-origin",
      "https://a",
      "--allow-origin",
      "https://b",
    ]);
    expect(flags).toEqual({ dns: false, allowOrigins: ["https://a", "https://b"] });
  });

  it("says which setting is missing when there is no exit or key", () => {
    expect(refusal(() => resolveConfig("/cfg", {}, {}, { key: "k:v" }))).toBe("USAGE_MISSING");
    expect(refusal(() => resolveConfig("/cfg", {}, {}, { exit: "wss://e" }))).toBe("USAGE_MISSING");
    expect(() => resolveConfig("/cfg", {}, {}, { key: "k:v" })).toThrow(/--exit/);
  });

  it.each([
    [["--port", "70000"], "USAGE_BAD_VALUE"],
    [["--tun-name", "a name with spaces"], "USAGE_BAD_VALUE"],
    [["--exit", "ftp://e"], "USAGE_BAD_VALUE"],
    [["--listen", "10.0.0.2,localhost"], "IP_BAD_ADDRESS"],
  ])("refuses %j by code", (argv, code) => {
    expect(refusal(() => readArgv(LAPTOP_OPTIONS, argv))).toBe(code);
  });

  it("reads config.json with the option names as keys, checked", async () => {
    writeFileSync(
      join(dir, "config.json"),
      JSON.stringify({ ...base, port: 9443, listen: ["10.0.0.2"], dns: false }),
    );
    chmodSync(join(dir, "config.json"), 0o600); // it holds the key
    expect(await readConfigFile(dir)).toEqual({ ...base, port: 9443, listen: ["10.0.0.2"], dns: false });
  });

  it("has no settings from a folder without config.json", async () => {
    expect(await readConfigFile(join(dir, "nothing-here"))).toEqual({});
  });

  it("refuses a config.json that is a symbolic link (root reads it in the user's folder): CONFIG_UNREADABLE", async () => {
    const linked = mkdtempSync(join(tmpdir(), "tether-config-link-"));
    try {
      writeFileSync(join(linked, "elsewhere"), "{}");
      symlinkSync(join(linked, "elsewhere"), join(linked, "config.json"));
      await expect(readConfigFile(linked)).rejects.toMatchObject({ code: "CONFIG_UNREADABLE" });
    } finally {
      rmSync(linked, { recursive: true, force: true });
    }
  });

  it.each([
    ['{"listen": "10.0.0.2"}', "CONFIG_BAD_TYPE"],
    ['{"port": "seventy"}', "USAGE_BAD_VALUE"],
    ['{"dns": "no"}', "CONFIG_BAD_TYPE"],
    ['{"configDir": "/x"}', "CONFIG_UNKNOWN_KEY"],
    ['{"maxPacketsPerFrame": 1}', "CONFIG_UNKNOWN_KEY"],
    ["[1, 2]", "CONFIG_NOT_JSON"],
    ["{", "CONFIG_NOT_JSON"],
  ])("refuses the config file %s with %s", async (json, code) => {
    expect(await fileRefusal(json)).toBe(code);
  });
});

describe("the default config folder", () => {
  it("is TETHER_CONFIG_DIR, else the account's ~/.config/tether, else (no home: root without sudo) /var/lib's", () => {
    expect(defaultConfigDir({ TETHER_CONFIG_DIR: "/srv/t" }, "/home/ada", true)).toBe("/srv/t");
    expect(defaultConfigDir({}, "/home/ada", true)).toBe("/home/ada/.config/tether");
    expect(defaultConfigDir({}, undefined, true)).toBe(HOMELESS_CONFIG_DIR);
    expect(defaultConfigDir({ TETHER_CONFIG_DIR: "/srv/t" }, undefined, true)).toBe("/srv/t");
    // Not giving root up (not root, or CAP_NET_ADMIN alone): the process's own home.
    expect(defaultConfigDir({}, undefined, false)).toBe(join(homedir(), ".config", "tether"));
  });
});
