// The option table as the one source of a command line: argv, environment, config file and
// --help all read it; every refusal is asserted by its code.
import { describe, expect, it } from "vitest";
import { codeOf } from "./errors.js";
import { helpText } from "./help.js";
import { defaultsOf, list, readArgv, readConfigObject, readEnv, text, toggle } from "./options.js";
import { integer, ipAddresses, oneOf } from "./values.js";

const TABLE = {
  port: text({
    flag: "port",
    env: "T_PORT",
    file: true,
    value: "PORT",
    help: "a port",
    default: 7443,
    parse: integer(1, 65535),
  }),
  listen: list({
    flag: "listen",
    env: "T_LISTEN",
    file: true,
    value: "ADDRS",
    help: "addresses",
    default: [],
    parse: ipAddresses,
  }),
  dns: toggle({ flag: "no-dns", negated: true, env: "T_DNS", file: true, help: "no dns", default: true }),
  level: text({ flag: "level", short: "l", env: "T_LEVEL", help: "a level", parse: oneOf("a", "b") }),
  secretKnob: text({ env: "T_KNOB", value: "N", help: "a knob", parse: integer(1, 9) }),
};

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return codeOf(error, "no code");
  }
  return "accepted";
}

describe("an option table", () => {
  it("reads flags, each through its parser, and leaves unset ones out", () => {
    const line = readArgv(TABLE, [
      "--port",
      "9443",
      "--listen",
      "10.0.0.2, ::1",
      "--listen",
      "10.0.0.3",
      "--no-dns",
      "run",
    ]);
    expect(line.flags).toEqual({ port: 9443, listen: ["10.0.0.2", "::1", "10.0.0.3"], dns: false });
    expect(line.positionals).toEqual(["run"]);
    expect(readArgv(TABLE, ["-l", "b"]).flags).toEqual({ level: "b" });
    expect(readArgv(TABLE, ["--help"]).help).toBe(true);
    expect(readArgv(TABLE, ["--version"]).version).toBe(true);
  });

  it("reads the environment the same way, an empty variable as unset", () => {
    expect(
      readEnv(TABLE, { T_PORT: "1", T_LISTEN: "10.0.0.2", T_DNS: "0", T_LEVEL: "", T_KNOB: "3" }),
    ).toEqual({
      port: 1,
      listen: ["10.0.0.2"],
      dns: false,
      secretKnob: 3,
    });
    expect(readEnv(TABLE, { T_DNS: "true" })).toEqual({ dns: true });
  });

  it("gives the defaults for the left end of the precedence expression", () => {
    expect(defaultsOf(TABLE)).toEqual({ port: 7443, listen: [], dns: true });
    const merged = {
      ...defaultsOf(TABLE),
      ...readEnv(TABLE, { T_PORT: "2" }),
      ...readArgv(TABLE, ["--port", "3"]).flags,
    };
    expect(merged.port).toBe(3);
  });

  it.each([
    [["--bogus"], "USAGE_UNKNOWN_OPTION"],
    [["--port"], "USAGE_BAD_OPTION"],
    [["--no-dns=yes"], "USAGE_BAD_OPTION"],
    [["--port", "0"], "USAGE_BAD_VALUE"],
    [["--port", "08"], "USAGE_BAD_VALUE"],
    [["--port", "1.5"], "USAGE_BAD_VALUE"],
    [["--level", "c"], "USAGE_BAD_VALUE"],
    [["--listen", "10.0.0.256"], "IP_BAD_ADDRESS"],
  ])("refuses the command line %j with %s", (argv, code) => {
    expect(refusal(() => readArgv(TABLE, argv))).toBe(code);
  });

  it.each([
    [{ T_PORT: "99999" }, "USAGE_BAD_VALUE"],
    [{ T_DNS: "maybe" }, "USAGE_BAD_VALUE"],
    [{ T_LISTEN: "010.0.0.1" }, "IP_BAD_ADDRESS"],
    [{ T_KNOB: "10" }, "USAGE_BAD_VALUE"],
  ])("refuses the environment %j with %s", (env, code) => {
    expect(refusal(() => readEnv(TABLE, env))).toBe(code);
  });

  it("names the flag, variable or file key in what it refuses", () => {
    expect(() => readArgv(TABLE, ["--port", "0"])).toThrow(/^--port /);
    expect(() => readEnv(TABLE, { T_PORT: "0" })).toThrow(/^T_PORT /);
    expect(() => readConfigObject(TABLE, { port: 0 }, "c.json")).toThrow(/^c\.json: "port" /);
  });
});

describe("a config file checked against the table", () => {
  it("takes the keys the file may hold, each of its JSON type, through the same parsers", () => {
    expect(readConfigObject(TABLE, { port: 9443, listen: ["10.0.0.2"], dns: false }, "c.json")).toEqual({
      port: 9443,
      listen: ["10.0.0.2"],
      dns: false,
    });
    expect(readConfigObject(TABLE, { port: "9443" }, "c.json")).toEqual({ port: 9443 });
  });

  it.each([
    [
      "a string where a list is wanted (once iterated character by character)",
      { listen: "10.0.0.2" },
      "CONFIG_BAD_TYPE",
    ],
    ["a list of numbers", { listen: [10] }, "CONFIG_BAD_TYPE"],
    ["a string where a switch is wanted", { dns: "false" }, "CONFIG_BAD_TYPE"],
    ["an object where text is wanted", { port: { n: 1 } }, "CONFIG_BAD_TYPE"],
    ["a value its parser refuses", { port: 70000 }, "USAGE_BAD_VALUE"],
    ["a malformed address", { listen: ["10.0.0.02"] }, "IP_BAD_ADDRESS"],
    ["a key it does not know", { prot: 1 }, "CONFIG_UNKNOWN_KEY"],
    ["a key only flags or the environment may set", { level: "a" }, "CONFIG_UNKNOWN_KEY"],
    ["an array instead of an object", [], "CONFIG_NOT_JSON"],
    ["null", null, "CONFIG_NOT_JSON"],
  ])("refuses %s", (_what, object, code) => {
    expect(refusal(() => readConfigObject(TABLE, object, "c.json"))).toBe(code);
  });

  it("says what the file may hold when a key is unknown", () => {
    expect(() => readConfigObject(TABLE, { prot: 1 }, "c.json")).toThrow('"port", "listen", "dns"');
  });
});

describe("--help from the table", () => {
  const help = helpText(TABLE, { title: "t: a test", usage: ["t [options]"], examples: ["t --port 1"] });

  it("lists every option with its flag, variable and default", () => {
    expect(help).toMatch(/--port PORT +a port \[7443\]\n +\(also env T_PORT, config\.json\)/);
    expect(help).toMatch(/-l, --level VALUE +a level\n +\(also env T_LEVEL\)/);
    expect(help).toMatch(/--no-dns +no dns/);
    expect(help).toMatch(/Tuning \(environment only\):\n {2}T_KNOB +a knob/);
    expect(help).toMatch(/--version/);
    expect(help).toMatch(/Examples:\n {2}t --port 1/);
  });

  it("keeps every line within 100 characters", () => {
    const long = { x: text({ flag: "x", help: "word ".repeat(60), parse: String }) };
    const lines = helpText(long, { title: "t", usage: [], examples: [] }).split("\n");
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(100);
  });
});
