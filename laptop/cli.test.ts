// The CLIs as a user meets them: bad input gets one line, "PROGRAM: message [CODE]", and exit
// code 2, never a stack trace. Asserted by code; the wording may change.
import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const KEY = `a:${"A".repeat(43)}`;
const configDir = mkdtempSync(join(tmpdir(), "tether-cli-test-"));
afterAll(() => rmSync(configDir, { recursive: true, force: true }));

function run(
  cli: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", cli, ...args],
      { timeout: 20_000, env: { ...process.env, TETHER_CONFIG_DIR: "/nonexistent-tether-test", ...env } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The code at the end of the one line a refusal prints. */
function codeIn(stderr: string): string | undefined {
  return /\[([A-Z0-9_]+)\]$/.exec(stderr.trimEnd())?.[1];
}

// One case per way a command line goes wrong, as a process; every flag's own refusals are
// tested in-process (exit/cli-options.test.ts, laptop/config.test.ts, cli/options.test.ts).
const cases: [string, string[], string, Record<string, string>?][] = [
  ["laptop/cli.ts", [], "USAGE_MISSING"],
  ["laptop/cli.ts", ["--exit", "wss://e", "--key", KEY, "--listen", "192.168.043.2"], "IP_BAD_ADDRESS"],
  ["laptop/cli.ts", ["--exit", "wss://e", "--key", KEY], "USAGE_BAD_VALUE", { TETHER_PORT: "0" }],
  ["laptop/cli.ts", ["--bogus"], "USAGE_UNKNOWN_OPTION"],
  ["laptop/cli.ts", ["--exit", "wss://e"], "CLIENT_KEY_FORMAT", { TETHER_KEY: "nonsense" }],
  ["laptop/cli.ts", ["frobnicate"], "USAGE_UNKNOWN_COMMAND"],
  // Accepted here once, it then stopped the exit at the first WELCOME (whose encoder refuses it).
  ["exit/cli.ts", ["--dns", "010.1.1.1"], "IP_BAD_ADDRESS"],
  ["exit/cli.ts", [], "IP_BAD_ADDRESS", { TETHER_EXIT_DNS: "010.1.1.1" }],
  ["exit/cli.ts", ["--pool", "10.0.0.0/8"], "POOL_SIZE"],
  ["exit/cli.ts", ["--cert", "/c.pem"], "USAGE_CONFLICT"],
  ["exit/cli.ts", ["keys", "add", "bad name"], "USAGE_BAD_VALUE"],
  ["exit/cli.ts", ["frobnicate"], "USAGE_UNKNOWN_COMMAND"],
];

describe("the command lines", () => {
  for (const [cli, args, expected, env] of cases) {
    const what = `${cli.split("/")[0]} ${args.join(" ")}${env ? ` (${Object.entries(env).map(([k, v]) => `${k}=${v}`)})` : ""}`;
    it(`answers \`${what}\` with one line, ${expected}, and exit code 2`, async () => {
      const { code, stderr } = await run(cli, args, env);
      expect(codeIn(stderr), stderr).toBe(expected);
      expect(stderr.trimEnd().split("\n"), "one line").toHaveLength(1);
      expect(stderr).toMatch(cli.startsWith("exit") ? /^tether-exit: / : /^tether: /);
      expect(code).toBe(2);
    });
  }

  it("refuses a config.json whose listen is a string (once iterated character by character)", async () => {
    const dir = mkdtempSync(join(configDir, "listen-"));
    writeFileSync(
      join(dir, "config.json"),
      JSON.stringify({ exit: "wss://e", key: KEY, listen: "10.0.0.2" }),
    );
    const { code, stderr } = await run("laptop/cli.ts", [], { TETHER_CONFIG_DIR: dir });
    expect(codeIn(stderr), stderr).toBe("CONFIG_BAD_TYPE");
    expect(stderr).toContain('"listen"');
    expect(code).toBe(2);
  });

  it("refuses a config.json that is not JSON, and one with a key it does not know", async () => {
    const dir = mkdtempSync(join(configDir, "bad-"));
    writeFileSync(join(dir, "config.json"), "{ exit: nope");
    expect(codeIn((await run("laptop/cli.ts", [], { TETHER_CONFIG_DIR: dir })).stderr)).toBe(
      "CONFIG_NOT_JSON",
    );
    writeFileSync(join(dir, "config.json"), JSON.stringify({ exitt: "wss://e" }));
    expect(codeIn((await run("laptop/cli.ts", [], { TETHER_CONFIG_DIR: dir })).stderr)).toBe(
      "CONFIG_UNKNOWN_KEY",
    );
  });

  it("refuses a config folder others can write, and a key file others can read, before anything else", async () => {
    const open = mkdtempSync(join(configDir, "open-"));
    chmodSync(open, 0o777);
    const folder = await run("laptop/cli.ts", ["--exit", "wss://e", "--key", KEY], {
      TETHER_CONFIG_DIR: open,
    });
    expect(codeIn(folder.stderr), folder.stderr).toBe("CONFIG_DIR_UNSAFE");
    expect(folder.code).toBe(2);
    const keyFile = join(configDir, "open-key");
    writeFileSync(keyFile, KEY, { mode: 0o644 });
    chmodSync(keyFile, 0o644);
    const key = await run("laptop/cli.ts", ["--exit", "wss://e", "--key-file", keyFile]);
    expect(codeIn(key.stderr), key.stderr).toBe("KEY_FILE_MODE");
    expect(key.stderr).toContain(`chmod 600 ${keyFile}`);
    expect(key.code).toBe(2);
  });

  it("documents itself with --help, with examples, every flag of its table listed", async () => {
    const { EXIT_OPTIONS } = await import("../exit/cli-options.js");
    const { LAPTOP_OPTIONS } = await import("./config.js");
    for (const [cli, table] of [
      ["laptop/cli.ts", LAPTOP_OPTIONS],
      ["exit/cli.ts", EXIT_OPTIONS],
    ] as const) {
      const { code, stdout } = await run(cli, ["--help"]);
      expect(code).toBe(0);
      expect(stdout).toMatch(/Usage:/);
      expect(stdout).toMatch(/Examples:/);
      for (const option of Object.values(table)) {
        if (option.flag) expect(stdout).toContain(`--${option.flag}`);
        if (option.env) expect(stdout).toContain(option.env);
      }
    }
  });

  it("prints its version with --version", async () => {
    const { version } = JSON.parse(
      await import("node:fs/promises").then((fs) => fs.readFile("package.json", "utf8")),
    ) as { version: string };
    for (const [cli, name] of [
      ["laptop/cli.ts", "tether"],
      ["exit/cli.ts", "tether-exit"],
    ]) {
      const { code, stdout } = await run(cli!, ["--version"]);
      expect(code).toBe(0);
      expect(stdout).toMatch(new RegExp(`^${name} ${version.replace(/\./g, "\\.")} `));
    }
  });
});
