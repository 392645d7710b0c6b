/**
 * Network namespaces of the end-to-end harness and their lifecycle on the host: the names it owns
 * (`tth<pid>-*`), creating one with its resolver, removing one with everything still inside it, and
 * removing what runs that died without tearing down left behind (namespaces, /etc/netns folders
 * and temp dirs whose pid is dead). A live pid's names are never touched: another run may be using
 * them.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { e2eError } from "./errors.js";
import { type ExecResult, isProcessAlive, runBounded, safeReaddir, waitUntil } from "./processes.js";

/** Prefix of every namespace, temp dir and /etc/netns folder the harness creates: `tth<pid>-`. */
export const NAME_PREFIX = "tth";
const OWNED_NAME = /^tth(\d+)-/;
/** One setup command (`ip`, a sysctl write): they take milliseconds, this only catches a hang. */
export const SETUP_COMMAND_TIMEOUT_MS = 10_000;
/** After SIGKILL, how long to wait for a namespace's last processes to be gone. */
const NAMESPACE_EXIT_WAIT_MS = 3_000;
/** `ip netns exec <ns>` bind-mounts every file of /etc/netns/<ns>/ over /etc. */
export const ETC_NETNS = "/etc/netns";

/** A host-namespace setup command that must succeed. */
export function hostCommand(argv: readonly string[]): Promise<ExecResult> {
  return runBounded(argv, { timeoutMs: SETUP_COMMAND_TIMEOUT_MS, check: true });
}

/** /etc/netns/<name>/resolv.conf: the resolv.conf processes inside the namespace see. */
export function resolvConfPath(name: string): string {
  return join(ETC_NETNS, name, "resolv.conf");
}

/**
 * Creates a namespace with loopback up and its resolv.conf naming `nameserver`; returns its
 * /etc/netns folder (written before the first `ip netns exec`, which mounts it).
 */
export async function createNamespace(name: string, nameserver: string): Promise<string> {
  await hostCommand(["ip", "netns", "add", name]);
  const dir = join(ETC_NETNS, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(resolvConfPath(name), `nameserver ${nameserver}\n`);
  await hostCommand(["ip", "-n", name, "link", "set", "lo", "up"]);
  return dir;
}

/**
 * Removes what runs that died without tearing down left behind: namespaces, /etc/netns folders and
 * temp dirs named `tth<pid>-*` whose pid is not a live process (after killing whatever still runs
 * inside such a namespace). Returns the names removed.
 */
export async function cleanupStale(): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await listNamespaces()) {
    if (isStale(name)) {
      await removeNamespace(name);
      removed.push(name);
    }
  }
  for (const [dir, entries] of [
    [ETC_NETNS, safeReaddir(ETC_NETNS)],
    [tmpdir(), safeReaddir(tmpdir())],
  ] as const) {
    for (const entry of entries) {
      if (isStale(entry)) {
        rmSync(join(dir, entry), { recursive: true, force: true });
        removed.push(join(dir, entry));
      }
    }
  }
  return removed;
}

function isStale(name: string): boolean {
  const match = OWNED_NAME.exec(name);
  return match?.[1] !== undefined && !isProcessAlive(Number(match[1]));
}

/** Names of all network namespaces under /run/netns (`ip netns list`). */
export async function listNamespaces(): Promise<string[]> {
  const { stdout } = await hostCommand(["ip", "netns", "list"]);
  return parseNamespaceList(stdout);
}

function parseNamespaceList(stdout: string): string[] {
  return stdout
    .split("\n")
    .map((line) => line.trim().split(/\s+/)[0] ?? "")
    .filter((name) => name !== "");
}

/** Kills everything inside the namespace, then deletes it (its veths go with it) and its /etc/netns folder. */
export async function removeNamespace(name: string): Promise<void> {
  const pids = await runBounded(["ip", "netns", "pids", name], { timeoutMs: SETUP_COMMAND_TIMEOUT_MS });
  const killed = killPids(pids.stdout);
  await waitUntil(() => killed.every((pid) => !isProcessAlive(pid)), NAMESPACE_EXIT_WAIT_MS);
  const del = await runBounded(["ip", "netns", "del", name], { timeoutMs: SETUP_COMMAND_TIMEOUT_MS });
  if (del.code !== 0 && (await listNamespaces()).includes(name)) {
    throw e2eError("E2E_TEARDOWN_FAILED", `ip netns del ${name}: ${del.stderr.trim()}`);
  }
  rmSync(join(ETC_NETNS, name), { recursive: true, force: true });
}

/** removeNamespace for the process-exit path, where nothing may wait. */
export function removeNamespaceSync(name: string): void {
  const pids = spawnSync("ip", ["netns", "pids", name], {
    encoding: "utf8",
    timeout: SETUP_COMMAND_TIMEOUT_MS,
  });
  killPids(pids.stdout ?? "");
  spawnSync("ip", ["netns", "del", name], { stdio: "ignore", timeout: SETUP_COMMAND_TIMEOUT_MS });
  rmSync(join(ETC_NETNS, name), { recursive: true, force: true });
}

/** SIGKILLs the pids of an `ip netns pids` listing; returns those it signalled. */
function killPids(list: string): number[] {
  const killed: number[] = [];
  for (const token of list.split(/\s+/)) {
    const pid = Number(token);
    if (token !== "" && Number.isSafeInteger(pid) && pid > 1 && pid !== process.pid) {
      try {
        process.kill(pid, "SIGKILL");
        killed.push(pid);
      } catch {
        // Already gone.
      }
    }
  }
  return killed;
}
