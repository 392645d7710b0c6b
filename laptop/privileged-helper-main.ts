// The privileged helper as a process: started by tether as root before it gives root up
// (privileged-client.ts spawns it), it keeps root and changes the system only when asked on its
// stdin, and puts everything back when stdin closes, so even a SIGKILLed tether leaves the
// machine as it was. What it may change is fixed by its argument, given while the parent was
// still root (the TUN's name, whether DNS may change, its own state folder); nothing the
// unprivileged parent sends later can widen it.
//
// Signals: SIGINT and SIGHUP reach the whole terminal's process group on Ctrl-C or a closed
// terminal; the helper ignores them and waits for its parent to ask for the restore (or to die,
// which closes the pipe). SIGTERM, sent to the helper itself, restores and exits.
import { lstatSync, mkdirSync, rmdirSync } from "node:fs";
import { dirname, isAbsolute } from "node:path";
import { PrivilegedHelper } from "./privileged-helper.js";
import { HELPER_STATE_ROOT, MAX_TUN_NAME_CHARS } from "./privileged-protocol.js";
import { printable } from "./sanitize.js";
import { LaptopSystem, type SystemChanges } from "./system-changes.js";

export interface HelperArguments {
  tunName: string;
  dns: boolean;
  stateDir: string;
}

const PROGRAM = "tether (privileged helper)";

function fail(message: string): never {
  process.stderr.write(`${PROGRAM}: ${message}\n`);
  process.exit(2);
}

function readArguments(text: string | undefined): HelperArguments {
  let value: Partial<HelperArguments>;
  try {
    value = JSON.parse(text ?? "") as Partial<HelperArguments>;
  } catch {
    fail("expects one JSON argument {tunName, dns, stateDir}");
  }
  const { tunName, dns, stateDir } = value;
  if (typeof tunName !== "string" || !new RegExp(`^[A-Za-z0-9_.-]{1,${MAX_TUN_NAME_CHARS}}$`).test(tunName))
    fail("tunName must be an interface name");
  if (typeof dns !== "boolean") fail("dns must be true or false");
  if (typeof stateDir !== "string" || !isAbsolute(stateDir)) fail("stateDir must be an absolute path");
  return { tunName, dns, stateDir };
}

/** Makes the state folder, and refuses one that is a link or that others could write in. */
function prepareStateDir(path: string): void {
  try {
    mkdirSync(path, { recursive: true, mode: 0o700 });
  } catch {
    // Another helper, ending, may have removed the empty parent between its two steps: once more.
    mkdirSync(path, { recursive: true, mode: 0o700 });
  }
  const info = lstatSync(path);
  if (!info.isDirectory() || info.uid !== process.geteuid?.() || info.mode & 0o022) {
    fail(`the state folder ${path} must be a folder of root's that only root can write`);
  }
}

function main(): void {
  const args = readArguments(process.argv[2]);
  prepareStateDir(args.stateDir);
  const system: SystemChanges = new LaptopSystem(args);
  const helper = new PrivilegedHelper(system, {
    dns: args.dns,
    send: (line) => process.stdout.write(`${line}\n`),
    onRefused: (code, message) =>
      process.stderr.write(`${PROGRAM}: refused: ${printable(message)} [${code}]\n`),
  });
  let finishing = false;
  const finish = () => {
    if (finishing) return;
    finishing = true;
    void helper.close().finally(() => {
      try {
        rmdirSync(args.stateDir); // empty once everything is back
        // and its parent too, when no other tether's is left in it: nothing stays behind
        if (dirname(args.stateDir) === HELPER_STATE_ROOT) rmdirSync(HELPER_STATE_ROOT);
      } catch {
        // not empty: a backup that could not be put back stays for the next start
      }
      process.exit(0);
    });
  };
  // Last resort, whatever ends the event loop: routes and DNS go back.
  process.on("exit", () => system.restoreSync());
  process.on("SIGINT", () => undefined);
  process.on("SIGHUP", () => undefined);
  process.on("SIGTERM", finish);
  process.on("uncaughtException", (error) => {
    process.stderr.write(`${PROGRAM}: unexpected error: ${printable(error.stack ?? String(error), 2000)}\n`);
    finish();
  });
  // The parent gone: its end of stdout is gone too, and writing there must not kill the helper.
  process.stdout.on("error", () => undefined);

  const notices = system.recoverSync();
  process.stdout.write(`${JSON.stringify({ ready: true, notices })}\n`);
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk: string) => helper.receive(chunk));
  process.stdin.on("end", finish);
  process.stdin.on("close", finish);
  process.stdin.on("error", finish);
}

main();
