/**
 * The four-namespace network that the end-to-end tests, the demo and the benchmarks run on, put
 * together from three parts: layout.ts (what the network looks like: addresses, links, routes),
 * namespaces.ts (namespaces on the host: create, remove, clean up after dead runs) and processes.ts
 * (bounded commands and process groups). A Topology runs commands inside its namespaces and owns
 * everything it starts.
 *
 * Lifecycle: createTopology() first removes what killed runs left (namespaces `tth<pid>-*` whose
 * pid is dead), then builds; destroy() (idempotent) runs deferred cleanups, kills every process it
 * spawned (whole process group) and anything else still inside its namespaces, deletes the
 * namespaces (which removes the veths) and its /etc/netns folders and temp dirs. Process exit and
 * SIGINT/SIGTERM/SIGHUP tear down too.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { e2eError } from "./errors.js";
import {
  ADDR,
  DEFAULT_GATEWAY,
  IFNAME,
  IP_FORWARD,
  LINKS,
  NS_SUFFIX,
  RESOLVER,
  ROLES,
  type Role,
} from "./layout.js";
import {
  cleanupStale,
  createNamespace,
  hostCommand,
  listNamespaces,
  NAME_PREFIX,
  removeNamespace,
  removeNamespaceSync,
  resolvConfPath,
  SETUP_COMMAND_TIMEOUT_MS,
} from "./namespaces.js";
import {
  type ExecOptions,
  type ExecResult,
  ProcessGroups,
  runBounded,
  type SpawnOptions,
  withTimeout,
} from "./processes.js";

// Callers of the harness import the layout and the process types from here, with the topology.
export { ADDR, HOTSPOT_DNS, IFNAME, INTERNET_DNS, ROLES, type Role } from "./layout.js";
export { cleanupStale, listNamespaces } from "./namespaces.js";
export {
  DEFAULT_EXEC_TIMEOUT_MS,
  type ExecOptions,
  type ExecResult,
  isProcessAlive,
  runBounded,
  type SpawnOptions,
} from "./processes.js";

/** Tags keep several topologies of one process apart; short so names stay readable. */
const TAG_PATTERN = /^[a-z0-9]{1,12}$/;
/** How long one deferred cleanup (closing a browser) may take before teardown moves on. */
const DEFERRED_CLEANUP_TIMEOUT_MS = 15_000;
/** rmSync's retries for a folder a just-killed process was still writing in (ENOTEMPTY, EBUSY). */
const FOLDER_REMOVE_RETRIES = 5;
/** A signal's whole teardown, after which the signal is re-raised anyway. */
const SIGNAL_TEARDOWN_TIMEOUT_MS = 30_000;

/** A namespace given by its role ("laptop") or its full name (topology.ns.laptop). */
export type NamespaceRef = Role | string;

export interface Topology {
  /** `tth<pid>` or `tth<pid>-<tag>`: the prefix of every name below. */
  readonly id: string;
  readonly ns: Readonly<Record<Role, string>>;
  readonly addr: typeof ADDR;
  readonly ifname: typeof IFNAME;
  /** /etc/netns/<laptop ns>/resolv.conf, which `ip netns exec` mounts over /etc/resolv.conf. */
  readonly laptopResolvConf: string;
  /** The resolv.conf of every namespace (the laptop's included). */
  readonly resolvConf: Readonly<Record<Role, string>>;
  /** True once destroy() has been called (or the process-exit teardown ran). */
  readonly destroyed: boolean;
  /** Runs argv inside a namespace; bounded in time (default 30 s) and in output size. */
  exec(ns: NamespaceRef, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Starts a long-running process inside a namespace, in its own process group, killed at destroy. */
  spawn(ns: NamespaceRef, argv: readonly string[], opts?: SpawnOptions): ChildProcess;
  /** The last 64 KiB of a spawned process's stdout and stderr, interleaved. */
  logTail(child: ChildProcess): string;
  /** SIGTERM to a spawned process's group, SIGKILL after graceMs; resolves once it has exited. */
  kill(child: ChildProcess, graceMs?: number): Promise<void>;
  /** A fresh directory under the OS temp dir, removed at destroy (and by a later stale cleanup). */
  tempDir(label: string): string;
  /**
   * Runs at destroy, last registered first, each bounded (15 s), before any process is killed;
   * exec and spawn still work inside it. Not run by the synchronous process-exit teardown.
   */
  defer(cleanup: () => Promise<void> | void): void;
  destroy(): Promise<void>;
}

export interface TopologyOptions {
  /** Distinguishes several topologies alive in one process: names become `tth<pid>-<tag>-laptop`. */
  tag?: string;
  /**
   * Keep IPv6 on. By default every namespace gets net.ipv6.conf.all.disable_ipv6=1, so no
   * link-local, router-solicitation or DAD traffic muddies a capture and nothing prefers an IPv6
   * path that does not exist. On this kernel that also sets `default`, so a TUN device the code
   * under test creates later starts with IPv6 disabled too: a test of IPv6 through the tunnel must
   * pass `ipv6: true`.
   */
  ipv6?: boolean;
  /**
   * Tear down on SIGINT/SIGTERM/SIGHUP (default true). false: the caller owns those signals and
   * must call destroy() itself (the demo does, to stop the laptop in order first); the
   * synchronous teardown at process exit stays.
   */
  signals?: boolean;
}

const live = new Set<NetnsTopology>();

export async function createTopology(opts: TopologyOptions = {}): Promise<Topology> {
  if (process.getuid?.() !== 0) {
    throw e2eError("E2E_NOT_ROOT", "network namespaces need root (run the e2e tests as root)");
  }
  if (opts.tag !== undefined && !TAG_PATTERN.test(opts.tag)) {
    throw e2eError("E2E_BAD_ARGUMENT", `tag must match ${TAG_PATTERN}, got ${JSON.stringify(opts.tag)}`);
  }
  const id =
    opts.tag === undefined ? `${NAME_PREFIX}${process.pid}` : `${NAME_PREFIX}${process.pid}-${opts.tag}`;
  // Checked and registered before the first await, so two concurrent calls cannot both pass.
  if ([...live].some((t) => t.id === id)) {
    throw e2eError("E2E_TOPOLOGY_EXISTS", `${id} is alive in this process; pass another tag`);
  }
  const names = Object.fromEntries(ROLES.map((r) => [r, `${id}-${NS_SUFFIX[r]}`])) as Record<Role, string>;
  const topology = new NetnsTopology(id, names);
  live.add(topology);
  installExitHandlers(opts.signals !== false);
  try {
    await cleanupStale();
    // Names with our pid that no live topology owns: left by an earlier process with the same pid.
    const existing = await listNamespaces();
    for (const name of Object.values(names)) {
      if (existing.includes(name)) await removeNamespace(name);
    }
  } catch (err) {
    live.delete(topology);
    if (live.size === 0) uninstallExitHandlers();
    throw err;
  }
  try {
    await topology.build(opts.ipv6 === true);
  } catch (err) {
    await topology.destroy().catch(() => {});
    throw err;
  }
  return topology;
}

class NetnsTopology implements Topology {
  readonly addr = ADDR;
  readonly ifname = IFNAME;
  readonly resolvConf: Readonly<Record<Role, string>>;
  readonly laptopResolvConf: string;
  private readonly processes = new ProcessGroups();
  private readonly deferred: (() => Promise<void> | void)[] = [];
  private readonly tempDirs: string[] = [];
  private readonly etcDirs: string[] = [];
  private destroying: Promise<void> | undefined;
  /** exec/spawn still work while deferred cleanups run (they may need them); not after. */
  private acceptingWork = true;

  constructor(
    readonly id: string,
    readonly ns: Readonly<Record<Role, string>>,
  ) {
    this.resolvConf = Object.fromEntries(ROLES.map((r) => [r, resolvConfPath(ns[r])])) as Record<
      Role,
      string
    >;
    this.laptopResolvConf = this.resolvConf.laptop;
  }

  get destroyed(): boolean {
    return this.destroying !== undefined;
  }

  async build(ipv6: boolean): Promise<void> {
    for (const role of ROLES) {
      this.etcDirs.push(await createNamespace(this.ns[role], RESOLVER[role]));
    }
    for (const l of LINKS) {
      const a = this.ns[l.a];
      const b = this.ns[l.b];
      await hostCommand([
        "ip",
        "-n",
        a,
        "link",
        "add",
        l.aIf,
        "type",
        "veth",
        "peer",
        "name",
        l.bIf,
        "netns",
        b,
      ]);
      await hostCommand(["ip", "-n", a, "addr", "add", `${l.aAddr}/${l.prefixLength}`, "dev", l.aIf]);
      await hostCommand(["ip", "-n", b, "addr", "add", `${l.bAddr}/${l.prefixLength}`, "dev", l.bIf]);
      await hostCommand(["ip", "-n", a, "link", "set", l.aIf, "up"]);
      await hostCommand(["ip", "-n", b, "link", "set", l.bIf, "up"]);
    }
    for (const role of ROLES) {
      const gateway = DEFAULT_GATEWAY[role];
      if (gateway !== undefined) {
        await hostCommand(["ip", "-n", this.ns[role], "route", "add", "default", "via", gateway]);
      }
      // /proc/sys/net is per network namespace, so a shell inside it writes that namespace's values
      // (no dependency on procps' sysctl).
      const writes = [`echo ${IP_FORWARD[role]} > /proc/sys/net/ipv4/ip_forward`];
      if (!ipv6) writes.push("echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6");
      await this.exec(role, ["sh", "-ec", writes.join("\n")], {
        timeoutMs: SETUP_COMMAND_TIMEOUT_MS,
        check: true,
      });
    }
  }

  private resolve(ref: NamespaceRef): string {
    this.assertAlive();
    const name = (ROLES as readonly string[]).includes(ref) ? this.ns[ref as Role] : ref;
    if (!Object.values(this.ns).includes(name)) {
      throw e2eError("E2E_FOREIGN_NAMESPACE", `${ref} is not a namespace of ${this.id}`);
    }
    return name;
  }

  private assertAlive(): void {
    if (!this.acceptingWork) throw e2eError("E2E_DESTROYED", `${this.id} was destroyed`);
  }

  async exec(ref: NamespaceRef, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const name = this.resolve(ref);
    return runBounded(["ip", "netns", "exec", name, ...argv], opts);
  }

  spawn(ref: NamespaceRef, argv: readonly string[], opts: SpawnOptions = {}): ChildProcess {
    return this.processes.spawn(["ip", "netns", "exec", this.resolve(ref), ...argv], opts);
  }

  logTail(child: ChildProcess): string {
    return this.processes.logTail(child);
  }

  kill(child: ChildProcess, graceMs?: number): Promise<void> {
    return this.processes.kill(child, graceMs);
  }

  tempDir(label: string): string {
    this.assertAlive();
    const dir = mkdtempSync(join(tmpdir(), `${this.id}-${label.replace(/[^a-z0-9]/gi, "")}-`));
    this.tempDirs.push(dir);
    return dir;
  }

  defer(cleanup: () => Promise<void> | void): void {
    if (this.destroying !== undefined) throw e2eError("E2E_DESTROYED", `${this.id} is being destroyed`);
    this.deferred.push(cleanup);
  }

  destroy(): Promise<void> {
    this.destroying ??= this.teardown();
    return this.destroying;
  }

  private async teardown(): Promise<void> {
    const problems: string[] = [];
    for (const cleanup of this.deferred.splice(0).reverse()) {
      try {
        await withTimeout(Promise.resolve().then(cleanup), DEFERRED_CLEANUP_TIMEOUT_MS);
      } catch (err) {
        problems.push(`deferred cleanup: ${String(err)}`);
      }
    }
    this.acceptingWork = false;
    await this.processes.killAll();
    for (const name of Object.values(this.ns)) {
      try {
        await removeNamespace(name);
      } catch (err) {
        problems.push(String(err));
      }
    }
    problems.push(...this.removeFolders());
    live.delete(this);
    if (live.size === 0) uninstallExitHandlers();
    if (problems.length > 0) throw e2eError("E2E_TEARDOWN_FAILED", problems.join("; "));
  }

  /** The synchronous last resort at process exit: no deferred cleanups, SIGKILL everything. */
  destroySync(): void {
    this.destroying ??= Promise.resolve();
    this.acceptingWork = false;
    this.processes.killAllSync();
    for (const name of Object.values(this.ns)) removeNamespaceSync(name);
    this.removeFolders();
    live.delete(this);
  }

  /** Removes every folder it made, each tried again if a process was still writing in it; says what stayed. */
  private removeFolders(): string[] {
    const problems: string[] = [];
    for (const dir of [...this.etcDirs.splice(0), ...this.tempDirs.splice(0)]) {
      try {
        rmSync(dir, { recursive: true, force: true, maxRetries: FOLDER_REMOVE_RETRIES, retryDelay: 100 });
      } catch (err) {
        problems.push(`${dir}: ${String(err)}`);
      }
    }
    return problems;
  }
}

// Process-level teardown. Installed while any topology is alive. On a signal: tear down, then
// re-raise it so the process ends as it would have (unless someone else also listens for it, in
// which case that listener owns the exit). On exit (including after an uncaught exception): the
// synchronous last resort.
const SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

function onExit(): void {
  for (const t of [...live]) t.destroySync();
}

function onSignal(signal: NodeJS.Signals): void {
  for (const s of SIGNALS) process.off(s, onSignal);
  const all = Promise.allSettled([...live].map((t) => t.destroy()));
  void withTimeout(all, SIGNAL_TEARDOWN_TIMEOUT_MS)
    .catch(() => onExit())
    .finally(() => {
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
}

function installExitHandlers(signals: boolean): void {
  if (!process.listeners("exit").includes(onExit)) process.on("exit", onExit);
  if (!signals) return;
  for (const signal of SIGNALS) {
    if (!process.listeners(signal).includes(onSignal)) process.on(signal, onSignal);
  }
}

function uninstallExitHandlers(): void {
  process.off("exit", onExit);
  for (const signal of SIGNALS) process.off(signal, onSignal);
}
