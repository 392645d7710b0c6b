// Throwaway network namespaces for the TUN tests and benchmark: traffic stays inside them, and
// delete() (idempotent) leaves nothing behind. Needs root and iproute2.

import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from "node:child_process";

export class TestNamespace {
  readonly name: string;
  #deleted = false;

  private constructor(name: string) {
    this.name = name;
  }

  /** Creates the namespace (replacing a stale one of the same name) with its loopback up. */
  static create(name: string): TestNamespace {
    run("ip", ["netns", "delete", name], true);
    run("ip", ["netns", "add", name]);
    const namespace = new TestNamespace(name);
    namespace.ip("link", "set", "lo", "up");
    return namespace;
  }

  /** `ip -n <ns> ...`; returns stdout, throws with stderr on failure. */
  ip(...args: string[]): string {
    return run("ip", ["-n", this.name, ...args]);
  }

  /** Whether `ip -n <ns> link show <name>` finds the interface. */
  hasInterface(name: string): boolean {
    try {
      this.ip("link", "show", "dev", name);
      return true;
    } catch {
      return false;
    }
  }

  /** Moves an interface of this process's namespace into this one. */
  adopt(interfaceName: string): void {
    run("ip", ["link", "set", "dev", interfaceName, "netns", this.name]);
  }

  sysctl(key: string, value: string): void {
    run("ip", ["netns", "exec", this.name, "sysctl", "-q", "-w", `${key}=${value}`]);
  }

  /** Runs a command inside the namespace to its end; returns all of its stdout, throws with stderr on failure. */
  exec(command: string, args: string[]): string {
    return run("ip", ["netns", "exec", this.name, command, ...args]);
  }

  /** Runs a CommonJS script with this Node binary inside the namespace. */
  node(script: string, args: string[] = []): ChildProcessWithoutNullStreams {
    return spawn("ip", ["netns", "exec", this.name, process.execPath, "-e", script, ...args], {
      stdio: "pipe",
    });
  }

  /** Runs a command inside the namespace. */
  spawn(command: string, args: string[]): ChildProcessWithoutNullStreams {
    return spawn("ip", ["netns", "exec", this.name, command, ...args], { stdio: "pipe" });
  }

  delete(): void {
    if (this.#deleted) return;
    this.#deleted = true;
    run("ip", ["netns", "delete", this.name], true);
  }
}

/**
 * Resolves with the first stdout line `accept` returns a value for; rejects on timeout, or once the
 * child is gone and its output all read ("close": at "exit" the last line may still be in the pipe).
 */
export function awaitLine<T>(
  child: ChildProcessWithoutNullStreams,
  accept: (line: string) => T | undefined,
  timeoutMs: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    let buffered = "";
    let stderr = "";
    const done = (finish: () => void) => {
      clearTimeout(timer);
      child.stdout.off("data", onData);
      child.stderr.off("data", onStderr);
      child.off("close", onClose);
      finish();
    };
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        const value = accept(line);
        if (value !== undefined) return done(() => resolve(value));
      }
    };
    const onStderr = (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    };
    const onClose = (code: number | null) =>
      done(() => reject(new Error(`child exited (${code}) before the expected line: ${stderr.trim()}`)));
    const timer = setTimeout(
      () => done(() => reject(new Error(`no expected line within ${timeoutMs} ms: ${stderr.trim()}`))),
      timeoutMs,
    );
    child.stdout.on("data", onData);
    child.stderr.on("data", onStderr);
    child.once("close", onClose);
  });
}

/** Kills a child (if still running) and waits for it to be gone. */
export async function stopChild(child: ChildProcessWithoutNullStreams): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGKILL");
  await exited;
}

function run(command: string, args: string[], ignoreFailure = false): string {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    if (ignoreFailure) return "";
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(`${command} ${args.join(" ")} failed: ${stderr.trim() || String(error)}`);
  }
}
