// The README's first command, run exactly as written there (`npm run demo`, and `npm run demo --
// --hold` ended as Ctrl-C ends it: SIGINT to the whole foreground process group), so it cannot rot
// again: it exits 0, shows the curl through the tether, what the phone app shows and the restore,
// and leaves no namespace, folder or process of its own behind.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, requireBuild } from "./chain.js";
import { HELLO_TEXT } from "./internet.js";
import { canRunPrivileged } from "./privileged.js";
import { listNamespaces, runBounded } from "./topology.js";

/** A whole demo run takes 20-40 s here; this only stops a hung one. */
const DEMO_TIMEOUT_MS = 120_000;
const BULK_BYTES = 20 * 1024 * 1024;

interface DemoRun {
  child: ChildProcess;
  output: () => string;
  /** The exit code, or the signal that ended npm. */
  exited: Promise<number | NodeJS.Signals | null>;
  /** True once npm and everything holding its output are done. */
  closed: () => boolean;
}

/** Starts an npm command in its own process group (as a terminal would run it), output recorded. */
function startDemo(args: string[]): DemoRun {
  const child = spawn("npm", ["run", "demo", ...args], {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let text = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    text += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    text += chunk.toString();
  });
  // "close", not "exit": npm may exit before the demo it started, which still holds the pipes.
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) =>
    child.once("close", (code, signal) => resolve(code ?? signal)),
  );
  let closed = false;
  const timer = setTimeout(() => signalGroup(child, "SIGKILL"), DEMO_TIMEOUT_MS);
  void exited.finally(() => {
    closed = true;
    clearTimeout(timer);
  });
  return { child, output: () => text, exited, closed: () => closed };
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

async function waitForText(run: DemoRun, pattern: RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(run.output())) {
    if (Date.now() > deadline || run.closed()) {
      throw new Error(`${pattern} not printed by the demo. It printed:\n${run.output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The topology id the demo printed (`tth<pid>-demo`), from its first namespace name. */
function topologyId(output: string): string {
  const id = output.match(/laptop (tth\d+-demo)-laptop /)?.[1];
  if (id === undefined) throw new Error(`no namespace names in the demo's output:\n${output}`);
  return id;
}

/** Everything of the demo's that could outlive it: namespaces, /etc/netns folders, temp dirs, processes. */
async function leftovers(id: string): Promise<string[]> {
  const left = (await listNamespaces()).filter((name) => name.startsWith(`${id}-`));
  for (const dir of ["/etc/netns", tmpdir()]) {
    if (existsSync(dir)) {
      left.push(
        ...readdirSync(dir)
          .filter((name) => name.startsWith(`${id}-`))
          .map((name) => join(dir, name)),
      );
    }
  }
  for (const pid of readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      if (cmdline.includes(`${id}-`)) left.push(`process ${pid}: ${cmdline}`);
    } catch {
      // Gone meanwhile.
    }
  }
  return left;
}

function expectShowsTheTether(output: string): void {
  expect(output).toMatch(/curl: curl: \(\d+\)/); // no way out before the tether
  expect(output).toMatch(/^tether: connected \(address 10\.77\.0\.\d+/m);
  expect(output).toMatch(/^laptop tethered: routes: .*0\.0\.0\.0\/1 dev tether0/m);
  expect(output).toContain(`curl http://internet.test/hello -> ${HELLO_TEXT.trim()}`);
  expect(output).toContain(`curl 20 MiB -> ${BULK_BYTES} bytes at`);
  expect(output).toMatch(/^phone says: Connected/m);
  expect(output).toMatch(/^phone shows: relaying true, data used today \S+ \S+$/m);
  const relayed = Number(output.match(/^phone shows: exact bytes relayed today (\d+)$/m)?.[1]);
  expect(relayed).toBeGreaterThanOrEqual(BULK_BYTES);
  expect(output).toMatch(/^phone shows: round trip laptop <-> exit [\d.]+ ms$/m);
}

function expectStoppedInOrder(output: string): void {
  expect(output).toContain("tether exited 0: tether: stopped; routes and DNS are as they were");
  const before = output.match(/^laptop before: (routes: .*)$/m)?.[1];
  expect(before).toBeDefined();
  expect(output).toContain(`laptop after: ${before}`);
  expect(output).toContain("routes and DNS restored: yes");
  expect(output.trimEnd().endsWith("namespaces removed")).toBe(true);
}

describe.skipIf(!canRunPrivileged)("npm run demo, as README says (needs root)", () => {
  it("brings the tether up, shows a transfer and what the phone shows, restores, cleans up, exits 0", async () => {
    requireBuild();
    const run = startDemo([]);
    const code = await run.exited;
    const output = run.output();
    expect(code, output).toBe(0);
    expectShowsTheTether(output);
    expect(output).not.toContain("holding");
    expectStoppedInOrder(output);
    expect(await leftovers(topologyId(output))).toEqual([]);
  });

  it("with --hold stays up for the user's own curl until Ctrl-C, then stops the same way", async () => {
    requireBuild();
    const run = startDemo(["--", "--hold"]);
    try {
      await waitForText(
        run,
        /^== holding; try: sudo (ip netns exec \S+ curl http:\/\/internet\.test\/hello)/m,
        90_000,
      );
      const id = topologyId(run.output());
      // The line the demo suggests, run as the user would (without sudo: this test is root).
      const suggested =
        run
          .output()
          .match(/try: sudo (ip netns exec \S+ curl \S+)/)?.[1]
          ?.split(" ") ?? [];
      const mine = await runBounded([...suggested, "-sS", "--max-time", "10"], { timeoutMs: 15_000 });
      expect(mine.stdout.trim()).toBe(HELLO_TEXT.trim());
      // Still holding after that: it waits for the signal, not for a timer.
      expect(run.closed()).toBe(false);
      signalGroup(run.child, "SIGINT");
      const ended = await run.exited;
      const output = run.output();
      // npm itself re-raises a Ctrl-C once its script is done, whatever the script's own code: a
      // terminal shows 130. The demo's part is its output: a clean stop, no "demo failed".
      expect([130, "SIGINT"], output).toContain(ended);
      expect(output).not.toContain("demo failed");
      expectShowsTheTether(output);
      expect(output).toMatch(/^SIGINT: stopping$/m);
      expectStoppedInOrder(output);
      expect(await leftovers(id)).toEqual([]);
    } finally {
      if (!run.closed()) signalGroup(run.child, "SIGKILL");
    }
  });
});
