/**
 * The four-namespace network that the end-to-end tests, the demo and the benchmarks run on.
 *
 *   laptop ns               phone ns                       exit ns                      internet ns
 *   wlan0 192.168.43.2 ===== hotspot0 192.168.43.1
 *                            rmnet0 203.0.113.2 ========== eth0 203.0.113.1
 *                                                          eth1 198.51.100.1 ========== eth0 198.51.100.2
 *   default via .43.1        default via 203.0.113.1       default via 198.51.100.2     connected only
 *   ip_forward 0             ip_forward 0 (no tethering)   ip_forward 1 (it NATs)       ip_forward 0
 *   DNS 192.168.43.1 (silent, like a hotspot's)            DNS 198.51.100.2 (the internet's dnsmasq)
 *
 * Nothing here links to the machine's own namespace, so no packet can leave: every address a test
 * targets is one of the above. The internet has no route back to 192.168.43.0/24 or 203.0.113.0/24,
 * so only the exit's NAT gets replies home; the phone does not forward, so the laptop reaches the
 * internet only through the tether.
 *
 * Lifecycle: createTopology() first removes what killed runs left (namespaces `tth<pid>-*` whose
 * pid is dead), then builds; destroy() (idempotent) runs deferred cleanups, kills every process it
 * spawned (whole process group) and anything else still inside its namespaces, deletes the
 * namespaces (which removes the veths) and its /etc/netns folders and temp dirs. Process exit and
 * SIGINT/SIGTERM/SIGHUP tear down too.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { constants as osConstants, tmpdir } from "node:os";
import { join } from "node:path";
import { e2eError } from "./errors.js";

export type Role = "laptop" | "phone" | "exit" | "internet";
export const ROLES: readonly Role[] = ["laptop", "phone", "exit", "internet"];

/** Every address in the topology. Only these (and loopback) are ever targeted. */
export const ADDR = {
  /** laptop <-> phone: the phone's Wi-Fi hotspot. */
  hotspot: { subnet: "192.168.43.0/24", prefixLength: 24, phone: "192.168.43.1", laptop: "192.168.43.2" },
  /** phone <-> exit: the carrier. */
  carrier: { subnet: "203.0.113.0/24", prefixLength: 24, exit: "203.0.113.1", phone: "203.0.113.2" },
  /** exit <-> internet: the exit's egress. */
  egress: { subnet: "198.51.100.0/24", prefixLength: 24, exit: "198.51.100.1", internet: "198.51.100.2" },
} as const;

/** Interface names per namespace, named after what they stand for on real devices. */
export const IFNAME = {
  laptop: { hotspot: "wlan0" },
  phone: { hotspot: "hotspot0", carrier: "rmnet0" },
  exit: { carrier: "eth0", egress: "eth1" },
  internet: { egress: "eth0" },
} as const;

/** The laptop's resolver: the phone's hotspot address, where no DNS server answers. */
export const HOTSPOT_DNS = ADDR.hotspot.phone;
/** The internet's DNS server (dnsmasq, started by startInternet). */
export const INTERNET_DNS = ADDR.egress.internet;

/** Prefix of every namespace, temp dir and /etc/netns folder the harness creates: `tth<pid>-`. */
const NAME_PREFIX = "tth";
const OWNED_NAME = /^tth(\d+)-/;
/** Tags keep several topologies of one process apart; short so names stay readable. */
const TAG_PATTERN = /^[a-z0-9]{1,12}$/;

/** exec's bound when the caller gives none. */
export const DEFAULT_EXEC_TIMEOUT_MS = 30_000;
/** One setup command (`ip`, a sysctl write): they take milliseconds, this only catches a hang. */
const SETUP_COMMAND_TIMEOUT_MS = 10_000;
/** Between SIGTERM and SIGKILL for a tracked process group. */
const KILL_GRACE_MS = 3_000;
/** After SIGKILL, how long to wait for a group's (or a namespace's) last processes to be gone. */
const GROUP_EXIT_WAIT_MS = 3_000;
/** Between two looks at whether processes are gone. */
const POLL_INTERVAL_MS = 20;
/** How long one deferred cleanup (closing a browser) may take before teardown moves on. */
const DEFERRED_CLEANUP_TIMEOUT_MS = 15_000;
/** A signal's whole teardown, after which the signal is re-raised anyway. */
const SIGNAL_TEARDOWN_TIMEOUT_MS = 30_000;
/** exec keeps at most this much of each of stdout and stderr (a runaway command cannot eat memory). */
const EXEC_OUTPUT_LIMIT_BYTES = 16 * 1024 * 1024;
/** spawn keeps the last this-many bytes of a process's output, for diagnostics. */
const SPAWN_TAIL_BYTES = 64 * 1024;

const ETC_NETNS = "/etc/netns";

export interface ExecOptions {
  /** Kill the command's whole process group after this long; default DEFAULT_EXEC_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Written to stdin, then stdin is closed. */
  input?: string | Uint8Array;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Throw E2E_COMMAND_FAILED on a non-zero exit instead of returning it. */
  check?: boolean;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** The exit code, or 128 + the signal number if a signal ended it (as a shell reports). */
  code: number;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** "pipe" to write to the process; default "ignore". stdout and stderr are always piped. */
  stdin?: "pipe" | "ignore";
}

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

interface Tracked {
  tail: string;
  exited: Promise<void>;
}

/** The links, each a veth pair created straight into its two namespaces. */
const LINKS: readonly {
  a: Role;
  aIf: string;
  aAddr: string;
  b: Role;
  bIf: string;
  bAddr: string;
  prefixLength: number;
}[] = [
  {
    a: "laptop",
    aIf: IFNAME.laptop.hotspot,
    aAddr: ADDR.hotspot.laptop,
    b: "phone",
    bIf: IFNAME.phone.hotspot,
    bAddr: ADDR.hotspot.phone,
    prefixLength: ADDR.hotspot.prefixLength,
  },
  {
    a: "phone",
    aIf: IFNAME.phone.carrier,
    aAddr: ADDR.carrier.phone,
    b: "exit",
    bIf: IFNAME.exit.carrier,
    bAddr: ADDR.carrier.exit,
    prefixLength: ADDR.carrier.prefixLength,
  },
  {
    a: "exit",
    aIf: IFNAME.exit.egress,
    aAddr: ADDR.egress.exit,
    b: "internet",
    bIf: IFNAME.internet.egress,
    bAddr: ADDR.egress.internet,
    prefixLength: ADDR.egress.prefixLength,
  },
];

/** The internet has none: it knows only its connected subnet, so replies need the exit's NAT. */
const DEFAULT_GATEWAY: Partial<Record<Role, string>> = {
  laptop: ADDR.hotspot.phone,
  phone: ADDR.carrier.exit,
  exit: ADDR.egress.internet,
};

/**
 * The phone does not forward (a carrier that blocks tethering). The exit does, as its deployment
 * sets it (compose `sysctls:`; a container cannot write /proc/sys itself).
 */
const IP_FORWARD: Record<Role, 0 | 1> = { laptop: 0, phone: 0, exit: 1, internet: 0 };

const RESOLVER: Record<Role, string> = {
  laptop: HOTSPOT_DNS,
  phone: INTERNET_DNS,
  exit: INTERNET_DNS,
  internet: INTERNET_DNS,
};

const NS_SUFFIX: Record<Role, string> = { laptop: "laptop", phone: "phone", exit: "exit", internet: "inet" };

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
  installExitHandlers();
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
  private readonly tracked = new Map<ChildProcess, Tracked>();
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
    this.resolvConf = Object.fromEntries(
      ROLES.map((r) => [r, join(ETC_NETNS, ns[r], "resolv.conf")]),
    ) as Record<Role, string>;
    this.laptopResolvConf = this.resolvConf.laptop;
  }

  get destroyed(): boolean {
    return this.destroying !== undefined;
  }

  async build(ipv6: boolean): Promise<void> {
    for (const role of ROLES) {
      await hostCommand(["ip", "netns", "add", this.ns[role]]);
      // Written before the first `ip netns exec`, which mounts every file of the folder over /etc.
      const dir = join(ETC_NETNS, this.ns[role]);
      mkdirSync(dir, { recursive: true });
      this.etcDirs.push(dir);
      writeFileSync(this.resolvConf[role], `nameserver ${RESOLVER[role]}\n`);
      await hostCommand(["ip", "-n", this.ns[role], "link", "set", "lo", "up"]);
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
    const name = this.resolve(ref);
    // detached: its own process group, so teardown reaches whatever it forks.
    const child = spawn("ip", ["netns", "exec", name, ...argv], {
      detached: true,
      stdio: [opts.stdin ?? "ignore", "pipe", "pipe"],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    const entry: Tracked = {
      tail: "",
      exited: new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.once("error", () => resolve());
      }),
    };
    // Always drained: a process whose pipe fills up blocks.
    const keep = (chunk: Buffer) => {
      entry.tail = (entry.tail + chunk.toString("utf8")).slice(-SPAWN_TAIL_BYTES);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    child.on("error", (err) => keep(Buffer.from(`[spawn error] ${err.message}\n`)));
    this.tracked.set(child, entry);
    return child;
  }

  logTail(child: ChildProcess): string {
    return this.tracked.get(child)?.tail ?? "";
  }

  async kill(child: ChildProcess, graceMs = KILL_GRACE_MS): Promise<void> {
    const entry = this.tracked.get(child);
    if (entry === undefined || child.pid === undefined) return;
    const pgid = child.pid;
    if (!hasExited(child)) {
      signalGroup(pgid, "SIGTERM");
      if (!(await settlesWithin(entry.exited, graceMs))) {
        signalGroup(pgid, "SIGKILL");
        await settlesWithin(entry.exited, GROUP_EXIT_WAIT_MS);
      }
    }
    // Whatever the leader left behind in its group dies with it, and is waited for.
    if (groupExists(pgid)) {
      signalGroup(pgid, "SIGKILL");
      await waitUntil(() => !groupExists(pgid), GROUP_EXIT_WAIT_MS);
    }
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
    await Promise.all([...this.tracked.keys()].map((child) => this.kill(child)));
    for (const name of Object.values(this.ns)) {
      try {
        await removeNamespace(name);
      } catch (err) {
        problems.push(String(err));
      }
    }
    this.removeFolders();
    live.delete(this);
    if (live.size === 0) uninstallExitHandlers();
    if (problems.length > 0) throw e2eError("E2E_TEARDOWN_FAILED", problems.join("; "));
  }

  /** The synchronous last resort at process exit: no deferred cleanups, SIGKILL everything. */
  destroySync(): void {
    this.destroying ??= Promise.resolve();
    this.acceptingWork = false;
    for (const child of this.tracked.keys()) {
      if (child.pid !== undefined && !hasExited(child)) signalGroup(child.pid, "SIGKILL");
    }
    for (const name of Object.values(this.ns)) removeNamespaceSync(name);
    this.removeFolders();
    live.delete(this);
  }

  private removeFolders(): void {
    for (const dir of [...this.etcDirs.splice(0), ...this.tempDirs.splice(0)]) {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/**
 * Removes what runs that died without tearing down left behind: namespaces, /etc/netns folders and
 * temp dirs named `tth<pid>-*` whose pid is not a live process (after killing whatever still runs
 * inside such a namespace). A live pid's are never touched: another run may be using them.
 * Returns the names removed.
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

/** True if pid is a running process; a zombie (dead, not yet reaped) counts as dead. */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  const state = procStat(pid)?.state;
  return state !== undefined && state !== "Z" && state !== "X";
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
async function removeNamespace(name: string): Promise<void> {
  const pids = await runBounded(["ip", "netns", "pids", name], { timeoutMs: SETUP_COMMAND_TIMEOUT_MS });
  const killed = killPids(pids.stdout);
  await waitUntil(() => killed.every((pid) => !isProcessAlive(pid)), GROUP_EXIT_WAIT_MS);
  const del = await runBounded(["ip", "netns", "del", name], { timeoutMs: SETUP_COMMAND_TIMEOUT_MS });
  if (del.code !== 0 && (await listNamespaces()).includes(name)) {
    throw e2eError("E2E_TEARDOWN_FAILED", `ip netns del ${name}: ${del.stderr.trim()}`);
  }
  rmSync(join(ETC_NETNS, name), { recursive: true, force: true });
}

function removeNamespaceSync(name: string): void {
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

/**
 * Signals a process group (every child is spawned detached, so its pid is its group id). A group id
 * is never reused while any member lives, so this cannot hit an unrelated process.
 */
function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // The whole group is gone.
  }
}

/**
 * True while a living process is in the group. Zombies do not count: an orphan's zombie waits for
 * init to reap it, and some inits (this project's VMs') never do, so kill(-pgid, 0) would say
 * "alive" forever.
 */
function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  for (const entry of safeReaddir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (stat !== undefined && stat.pgrp === pgid && stat.state !== "Z" && stat.state !== "X") return true;
  }
  return false;
}

/** State letter and process group of a process, from /proc/<pid>/stat; undefined if it is gone. */
function procStat(pid: number): { state: string; pgrp: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) S ppid pgrp ...": comm may hold spaces and parens, so parse after the last ")".
    const [state = "", , pgrp = ""] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state, pgrp: Number(pgrp) };
  } catch {
    return undefined;
  }
}

/** Polls a condition until it holds or the time is up; says which. */
async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await delay(POLL_INTERVAL_MS);
  }
  return true;
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** A host-namespace setup command that must succeed. */
function hostCommand(argv: readonly string[]): Promise<ExecResult> {
  return runBounded(argv, { timeoutMs: SETUP_COMMAND_TIMEOUT_MS, check: true });
}

/** Runs argv in its own process group; on timeout the whole group is killed and this rejects. */
export function runBounded(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const [command, ...args] = argv;
  if (command === undefined) return Promise.reject(e2eError("E2E_BAD_ARGUMENT", "empty argv"));
  const timeoutMs = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      detached: true,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    const stdout = new BoundedText();
    const stderr = new BoundedText();
    child.stdout?.on("data", (chunk: Buffer) => stdout.add(chunk));
    child.stderr?.on("data", (chunk: Buffer) => stderr.add(chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) signalGroup(child.pid, "SIGKILL");
    }, timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(e2eError("E2E_COMMAND_FAILED", `${argv.join(" ")}: ${err.message}`, err));
    });
    child.once("close", (exitCode, signal) => {
      clearTimeout(timer);
      const code = exitCode ?? 128 + (signal === null ? 0 : (osConstants.signals[signal] ?? 0));
      const result = { stdout: stdout.text(), stderr: stderr.text(), code };
      if (timedOut) {
        reject(
          e2eError("E2E_EXEC_TIMEOUT", `${argv.join(" ")} ran past ${timeoutMs} ms: ${result.stderr.trim()}`),
        );
      } else if (opts.check === true && code !== 0) {
        reject(e2eError("E2E_COMMAND_FAILED", `${argv.join(" ")} exited ${code}: ${result.stderr.trim()}`));
      } else {
        resolve(result);
      }
    });
    if (opts.input !== undefined && child.stdin !== null) {
      child.stdin.on("error", () => {}); // The command may exit without reading its input.
      child.stdin.end(opts.input);
    }
  });
}

class BoundedText {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  add(chunk: Buffer): void {
    if (this.size >= EXEC_OUTPUT_LIMIT_BYTES) return;
    const kept = chunk.subarray(0, EXEC_OUTPUT_LIMIT_BYTES - this.size);
    this.chunks.push(kept);
    this.size += kept.length;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Waits for a promise at most ms; says whether it settled. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
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

function installExitHandlers(): void {
  if (!process.listeners("exit").includes(onExit)) process.on("exit", onExit);
  for (const signal of SIGNALS) {
    if (!process.listeners(signal).includes(onSignal)) process.on(signal, onSignal);
  }
}

function uninstallExitHandlers(): void {
  process.off("exit", onExit);
  for (const signal of SIGNALS) process.off(signal, onSignal);
}
