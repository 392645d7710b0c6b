// Forgetting a released address's flows. The kernel's connection tracking outlives a session:
// masqueraded flows of the laptop that held 10.77.0.5 stay in the table for minutes (established
// TCP for days), and if 10.77.0.5 were handed to the next laptop, replies to the old flows would
// be delivered to it. So an address goes back to the pool only once its conntrack entries are
// deleted (`conntrack -D`, both directions, CAP_NET_ADMIN). A session's IPv6 address follows from
// its IPv4 one (exit/pool6.ts: the same index), so it is handed out again with it: its entries go
// first too (conntrack reads the family from the address).
import { CommandError, run } from "../tun/command.js";

export interface ConntrackLog {
  warn(fields: object, message: string): void;
}

/** `conntrack -D` says so (exit 1) when there was nothing to delete. */
const NOTHING_DELETED = /0 flow entries have been deleted/;

export class ConntrackError extends Error {
  override name = "ConntrackError";
}

/** The conntrack tool's command line; tests run it in their namespace (["ip", "netns", "exec", NS, "conntrack"]). */
const CONNTRACK: readonly string[] = ["conntrack"];

/** Deletes every conntrack entry from or to `address` (IPv4 or IPv6). Resolves with how many went. */
export async function flushConntrack(address: string, conntrack = CONNTRACK): Promise<number> {
  let deleted = 0;
  for (const direction of ["--orig-src", "--orig-dst"]) {
    try {
      const { stderr } = await run([...conntrack, "-D", direction, address]);
      deleted += Number(/(\d+) flow entries have been deleted/.exec(stderr)?.[1] ?? 0);
    } catch (error) {
      if (error instanceof CommandError && NOTHING_DELETED.test(error.stderr)) continue;
      throw new ConntrackError(
        error instanceof CommandError && /ENOENT/.test(error.message)
          ? "the conntrack tool is not installed (Debian: apt install conntrack)"
          : (error as Error).message,
      );
    }
  }
  return deleted;
}

export interface ReleasablePool {
  release(address: string): void;
}

let missingToolReported = false;

export interface ReleaseOptions {
  /** The session's other addresses (its IPv6 one): handed out again with `address`, so forgotten first too. */
  also?: readonly string[];
  /** Forgets one address's flows (default flushConntrack). */
  flush?: (address: string) => Promise<number>;
}

/**
 * Gives `address` back to `pool` once its flows, and those of the addresses in `also`, are
 * forgotten. Never rejects: if a flush fails the address is still released (holding it forever
 * would leak the pool), and the operator is told, once if it is because the tool is missing.
 */
export async function releaseAddress(
  pool: ReleasablePool,
  address: string,
  log: ConntrackLog,
  options: ReleaseOptions = {},
): Promise<void> {
  const flush = options.flush ?? flushConntrack;
  for (const each of [address, ...(options.also ?? [])]) {
    try {
      await flush(each);
    } catch (error) {
      const missing = /not installed/.test((error as Error).message);
      if (!missing || !missingToolReported) {
        log.warn(
          { address: each, err: (error as Error).message },
          "conntrack entries of a freed address not flushed",
        );
      }
      if (missing) missingToolReported = true;
    }
  }
  pool.release(address);
}
