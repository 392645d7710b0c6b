// The one way Tether runs a system command (ip, nft, resolvectl, sysctl): argv only, never a shell,
// bounded in time, and a failure becomes a CommandError that says which command and why.
import { execFile } from "node:child_process";

/** Longest any configuration command may take, ms: these are local and answer in milliseconds. */
const COMMAND_TIMEOUT_MS = 10_000;

export class CommandError extends Error {
  readonly argv: readonly string[];
  readonly stderr: string;

  constructor(argv: readonly string[], stderr: string, cause?: unknown) {
    super(`\`${argv.join(" ")}\` failed: ${stderr.trim() || String(cause)}`);
    this.name = "CommandError";
    this.argv = argv;
    this.stderr = stderr;
  }
}

export interface CommandResult {
  stdout: string;
  stderr: string;
}

/** Runs argv[0] with the rest as arguments; resolves with its output, rejects with a CommandError. */
export function run(argv: readonly string[], input?: string): Promise<CommandResult> {
  const [file, ...args] = argv;
  if (!file) throw new Error("run() needs a command");
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { timeout: COMMAND_TIMEOUT_MS, encoding: "utf8" },
      (error, stdout, stderr) => {
        if (error)
          reject(new CommandError(argv, stderr, (error as NodeJS.ErrnoException).code ?? error.message));
        else resolve({ stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Gives a TUN interface its address and MTU and brings it up. */
export async function configureInterface(
  name: string,
  config: { address: string; prefixLength: number; mtu: number },
): Promise<void> {
  await run(["ip", "link", "set", "dev", name, "mtu", String(config.mtu)]);
  await run(["ip", "addr", "replace", `${config.address}/${config.prefixLength}`, "dev", name]);
  await run(["ip", "link", "set", "dev", name, "up"]);
}
