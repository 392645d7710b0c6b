// The unprivileged tether's side of the privileged helper: starts it (while still root), then asks
// it for every change to the system, one request at a time, and reads its answers. It is the same
// SystemChanges the laptop would use in its own process, so the rest of tether does not know
// whether it runs as root or not.
import { type ChildProcessByStdio, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { accessSync, constants } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import type { Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import type { HelperArguments } from "./privileged-helper-main.js";
import {
  HELPER_STATE_ROOT,
  PrivilegedError,
  type PrivilegedReply,
  type PrivilegedRequest,
  parseReply,
  type ReadyLine,
} from "./privileged-protocol.js";
import type { TunnelAddress } from "./routes.js";
import type { TunnelAddress6 } from "./routes6.js";
import type { SystemChanges } from "./system-changes.js";

/** How long the helper may take to start and say it is ready (loading Node; tsx under tests), ms. */
const READY_TIMEOUT_MS = 20_000;
/** How long one request may take: an address change is up to five `ip` commands of at most 10 s. */
const REQUEST_TIMEOUT_MS = 60_000;
/** How long close() waits for the helper to restore and exit, ms. */
const EXIT_TIMEOUT_MS = 20_000;
/** Longest reply line the client keeps, bytes (a reply is a few hundred). */
const MAX_REPLY_LINE_BYTES = 16 * 1024;

export interface PrivilegedClientOptions extends HelperArguments {
  /** The helper's argv before its JSON argument; default: confinedHelperCommand(). */
  command?: readonly string[];
  /** The helper ended by itself (not through close()): nothing can be changed any more. */
  onGone?(why: string): void;
}

/**
 * The helper's state folder for a config folder: one per config folder, so tethers with their
 * own folders (several in tests, each in its namespace) never recover each other's changes.
 */
export function helperStateDir(configDir: string): string {
  return join(HELPER_STATE_ROOT, createHash("sha256").update(resolve(configDir)).digest("hex").slice(0, 16));
}

/**
 * What the helper keeps of root: uid 0 (which owns /etc/resolv.conf and its state folder) and
 * CAP_NET_ADMIN alone, for itself and what it runs (ip, resolvectl), through util-linux's setpriv:
 * a bounding set of one (root's exec gets no other capability) and no new privileges.
 */
export const HELPER_SETPRIV_OPTIONS = ["--bounding-set=-all,+net_admin", "--no-new-privs"] as const;

/** An executable `name` on PATH, or undefined. */
function onPath(name: string, path: string): string | undefined {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not in this one
    }
  }
  return undefined;
}

/** helperCommand() confined to CAP_NET_ADMIN by setpriv; unconfined (all of root) without setpriv. */
export function confinedHelperCommand(path = process.env.PATH ?? ""): {
  command: string[];
  confined: boolean;
} {
  const setpriv = onPath("setpriv", path);
  return setpriv
    ? { command: [setpriv, ...HELPER_SETPRIV_OPTIONS, ...helperCommand()], confined: true }
    : { command: helperCommand(), confined: false };
}

/** How to run privileged-helper-main beside this module: the built .js, or the .ts through tsx. */
export function helperCommand(): string[] {
  const source = import.meta.url.endsWith(".ts");
  const entry = fileURLToPath(new URL(`./privileged-helper-main.${source ? "ts" : "js"}`, import.meta.url));
  return source ? [process.execPath, "--import", "tsx", entry] : [process.execPath, entry];
}

type Pending = { resolve(): void; reject(error: Error): void; timer: NodeJS.Timeout };

export class PrivilegedClient implements SystemChanges {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private chain: Promise<unknown> = Promise.resolve();
  private partial = "";
  private gone: string | undefined;
  private closing = false;
  /** Whether the helper holds CAP_NET_ADMIN alone (setpriv), not all of root. */
  confined = false;
  /** Resolves once the helper process is gone. */
  readonly exited: Promise<void>;
  private notices: string[] = [];

  private constructor(
    private readonly child: ChildProcessByStdio<Writable, Readable, null>,
    onGone: ((why: string) => void) | undefined,
    ready: (line: ReadyLine) => void,
  ) {
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => this.receive(chunk, ready));
    child.stdin.on("error", () => undefined); // the helper gone: its exit says so
    child.once("exit", (code, signal) => {
      this.gone = `the privileged helper ended (${signal ?? `exit code ${code}`})`;
      for (const [id, request] of this.pending) {
        clearTimeout(request.timer);
        request.reject(new PrivilegedError("PRIVILEGED_HELPER_GONE", this.gone));
        this.pending.delete(id);
      }
      if (!this.closing) onGone?.(this.gone);
    });
  }

  /** Starts the helper (the caller is root) and waits until it is ready. Rejects PrivilegedError. */
  static async start(options: PrivilegedClientOptions): Promise<PrivilegedClient> {
    const args: HelperArguments = { tunName: options.tunName, dns: options.dns, stateDir: options.stateDir };
    const chosen = options.command
      ? { command: [...options.command], confined: false }
      : confinedHelperCommand();
    const [file, ...rest] = chosen.command;
    const child = spawn(file!, [...rest, JSON.stringify(args)], {
      stdio: ["pipe", "pipe", "inherit"],
      env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" },
    });
    let client: PrivilegedClient | undefined;
    const ready = new Promise<ReadyLine>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGTERM");
        reject(new PrivilegedError("PRIVILEGED_TIMEOUT", "the privileged helper did not start in time"));
      }, READY_TIMEOUT_MS);
      child.once("error", (error) => {
        clearTimeout(timer);
        reject(
          new PrivilegedError(
            "PRIVILEGED_HELPER_GONE",
            `cannot start the privileged helper: ${error.message}`,
          ),
        );
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(
          new PrivilegedError(
            "PRIVILEGED_HELPER_GONE",
            `the privileged helper stopped at its start (${signal ?? `exit code ${code}`})`,
          ),
        );
      });
      client = new PrivilegedClient(child, options.onGone, (line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
    const line = await ready;
    client!.notices = line.notices;
    client!.confined = chosen.confined;
    return client!;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** What the helper put back at its start; given once. */
  recoverSync(): string[] {
    const notices = this.notices;
    this.notices = [];
    return notices;
  }

  address(config: TunnelAddress): Promise<void> {
    return this.request({ op: "address", ...config });
  }

  address6(config: TunnelAddress6 | undefined): Promise<void> {
    return this.request(
      config
        ? { op: "address6", address: config.address, prefixLength: config.prefixLength }
        : { op: "address6", address: null },
    );
  }

  dns(servers: readonly string[]): Promise<void> {
    return this.request({ op: "dns", servers: [...servers] });
  }

  restore(): Promise<void> {
    return this.request({ op: "restore" });
  }

  /**
   * For an exit handler, which cannot wait: closes the pipe, and the helper, seeing it closed,
   * puts everything back on its own.
   */
  restoreSync(): void {
    this.closing = true;
    this.child.stdin.destroy();
  }

  /** Asks for the restore, closes the pipe and waits (bounded) for the helper to exit. */
  async close(): Promise<void> {
    if (!this.gone) await this.restore().catch(() => undefined); // closing the pipe restores too
    this.closing = true;
    this.child.stdin.end();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.exited,
      new Promise((resolve) => (timer = setTimeout(resolve, EXIT_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
  }

  private request(body: DistributiveOmit<PrivilegedRequest, "id">): Promise<void> {
    const run = this.chain.then(
      () =>
        new Promise<void>((resolve, reject) => {
          if (this.gone) {
            reject(new PrivilegedError("PRIVILEGED_HELPER_GONE", this.gone));
            return;
          }
          const id = this.nextId++;
          const timer = setTimeout(() => {
            this.pending.delete(id);
            reject(
              new PrivilegedError("PRIVILEGED_TIMEOUT", `the privileged helper did not answer ${body.op}`),
            );
          }, REQUEST_TIMEOUT_MS);
          this.pending.set(id, { resolve, reject, timer });
          this.child.stdin.write(`${JSON.stringify({ id, ...body })}\n`);
        }),
    );
    this.chain = run.catch(() => undefined);
    return run;
  }

  private receive(chunk: string, ready: (line: ReadyLine) => void): void {
    const lines = (this.partial + chunk).split("\n");
    this.partial = lines.pop() ?? "";
    if (this.partial.length > MAX_REPLY_LINE_BYTES) this.partial = "";
    for (const text of lines) {
      const reply = parseReply(text);
      if (reply === undefined) continue;
      if ("ready" in reply) ready(reply);
      else this.settle(reply);
    }
  }

  private settle(reply: PrivilegedReply): void {
    const request = this.pending.get(reply.id);
    if (!request) return;
    this.pending.delete(reply.id);
    clearTimeout(request.timer);
    if (reply.ok) request.resolve();
    else request.reject(new PrivilegedError(reply.code, reply.message));
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
