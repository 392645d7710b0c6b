// `tether` where a new user trips, as a process: each missing prerequisite is one line with what
// to do, exit code 2, before anything is changed. No root needed: as root the process drops to
// nobody for the privilege case, and a new network namespace stands for a laptop with no network.
import { execFile, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const KEY = `a:${"A".repeat(43)}`;
const dir = mkdtempSync(join(tmpdir(), "tether-first-run-"));
chmodSync(dir, 0o755); // readable by the unprivileged child below
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const isRoot = process.geteuid?.() === 0;
/** NOBODY: the uid the privilege case runs as when the tests run as root. */
const NOBODY = 65534;

function run(
  args: string[],
  options: { env?: Record<string, string>; uid?: number; prefix?: string[] } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = [...(options.prefix ?? []), process.execPath, "--import", "tsx", "laptop/cli.ts", ...args];
  return new Promise((resolve) => {
    execFile(
      argv[0]!,
      argv.slice(1),
      {
        timeout: 20_000,
        env: { ...process.env, TETHER_CONFIG_DIR: join(dir, "config"), ...options.env },
        ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid }),
      },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function takenPort(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ host: "127.0.0.1", port: 0 }, resolve));
  return { server, port: (server.address() as { port: number }).port };
}

function oneLine(stderr: string, code: string): void {
  expect(stderr.trimEnd().split("\n"), stderr).toHaveLength(1);
  expect(stderr).toMatch(new RegExp(`^tether: .+ \\[${code}\\]\\n$`));
}

const keyFile = join(dir, "key");
writeFileSync(keyFile, KEY, { mode: 0o600 });

/** How to put the child in a network namespace of its own, or why it cannot be done here. */
const netns = isRoot ? ["unshare", "-n"] : ["unshare", "-rn"];
const netnsWorks = spawnSync(netns[0]!, [...netns.slice(1), "true"]).status === 0;

describe("tether for a first-time user", () => {
  it("says the phone's port is in use, and how to pick another", async () => {
    const { server, port } = await takenPort();
    try {
      const { code, stderr } = await run([
        "--exit",
        "wss://e",
        "--key-file",
        keyFile,
        "--listen",
        "127.0.0.1",
        "--port",
        String(port),
      ]);
      oneLine(stderr, "PORT_IN_USE");
      expect(stderr).toContain("--port");
      expect(code).toBe(2);
    } finally {
      server.close();
    }
  });

  it("says it needs root, and to run it with sudo", async () => {
    const { code, stderr } = await run(["--exit", "wss://e", "--listen", "127.0.0.1", "--port", "17443"], {
      env: { TETHER_KEY: KEY, HOME: dir },
      ...(isRoot ? { uid: NOBODY } : {}),
    });
    oneLine(stderr, "NEEDS_ROOT");
    expect(stderr).toContain("sudo");
    expect(code).toBe(2);
  });

  it.skipIf(!netnsWorks)(
    "says there is no network the phone could reach, and to join the hotspot (unshare needed)",
    async () => {
      const { code, stderr } = await run(["--exit", "wss://e", "--key-file", keyFile], { prefix: netns });
      oneLine(stderr, "NO_ADDRESS");
      expect(stderr).toContain("hotspot");
      expect(code).toBe(2);
    },
  );

  it("lists with `tether doctor` what is there and what is missing, exit code 1 when something is", async () => {
    const { server, port } = await takenPort();
    try {
      const { code, stdout } = await run([
        "doctor",
        "--listen",
        "127.0.0.1",
        "--port",
        String(port),
        "--key-file",
        keyFile,
      ]);
      expect(stdout).toMatch(/^ok {7}Node\.js \(v\d+/m);
      expect(stdout).toMatch(/^ok {7}key file/m);
      expect(stdout).toMatch(/^MISSING {2}port \d+ for the phone: .+ \[PORT_IN_USE\]$/m);
      expect(code).toBe(1);
    } finally {
      server.close();
    }
  });
});
