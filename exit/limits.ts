// Who may take the exit's time: every TCP connection is counted against its source, every
// WebSocket is admitted (or refused) before its CHALLENGE, and every new session is checked
// against the session limits before it gets an address.
//
//   TCP connection from S ─> S holds maxConnectionsPerSource without a session? ── yes ──> cut, counted
//   WebSocket from S ──> S over its failed-handshake budget? ─────────── yes ──> RATE_LIMITED
//                        S holds maxHandshakesPerSource handshakes? ──── yes ──> RATE_LIMITED
//                        handshakes in progress at the limit? ────────── yes ──> EXIT_BUSY
//                        admitted: one handshake slot, until WELCOME or the connection ends
//   HELLO authenticated ─> sessions at the limit? ── yes ──> EXIT_BUSY
//                          this key's sessions at the limit? ── yes ──> SESSION_LIMIT
//
// The per-source limits are below the totals, so one source flooding (or holding its slots open
// to the deadline) cannot keep any other source out. A failed handshake (wrong key, no common
// version, timeout, malformed frame, a slot held and left) costs its source a token; tokens come
// back slowly. Sources are protocol/ip.ts's sourceKey: an IPv4 address, or an IPv6 /64, the block
// one host gets. Pure apart from the clock, which the caller may pass.
import type { ErrorCode } from "../protocol/errors.js";
import { sourceKey } from "../protocol/ip.js";
import { TokenBucket } from "./rate-limit.js";

export interface ExitLimits {
  /** Connections that have not finished their handshake, at once: bounds sockets held by strangers. */
  maxHandshakes: number;
  /** Sessions in the table (attached or waiting to resume), at once: bounds the exit's work. */
  maxSessions: number;
  /** Sessions one client key may hold at once: one laptop needs one; a leaked key gets few. */
  maxSessionsPerKey: number;
  /** Failed handshakes a source may have in a row before it is refused. */
  failedHandshakeBurst: number;
  /** Then one more failed handshake per this many ms. */
  failedHandshakeIntervalMs: number;
  /**
   * Handshakes in progress from one source at once (default MAX_HANDSHAKES_PER_SOURCE): below
   * maxHandshakes, so one source cannot hold every slot.
   */
  maxHandshakesPerSource?: number | undefined;
  /**
   * TCP connections without a session from one source at once (default
   * MAX_CONNECTIONS_PER_SOURCE): page loads, slow TLS or headers, WebSockets before WELCOME.
   */
  maxConnectionsPerSource?: number | undefined;
}

/**
 * Handshakes one source may have in progress at once: a laptop needs one (its phone redials one
 * leg at a time); a carrier NAT's address shared by a few laptops that happen to connect together
 * gets several. An eighth of the default maxHandshakes: a flood from one source leaves the rest.
 */
export const MAX_HANDSHAKES_PER_SOURCE = 8;

/**
 * TCP connections without a session one source may hold at once: a phone loading the app opens
 * about 6, a carrier NAT's address shares them among its subscribers. Well under the server's
 * bound (http-guard.ts maxConnections, over 2000), so a source of slow connections fills only its own.
 */
export const MAX_CONNECTIONS_PER_SOURCE = 64;

export const EXIT_LIMITS: ExitLimits = {
  maxHandshakes: 64,
  maxSessions: 1024,
  maxSessionsPerKey: 4,
  failedHandshakeBurst: 10,
  failedHandshakeIntervalMs: 6_000,
};

/**
 * A connection's HELLO must be in and checked this soon after it opens (its CHALLENGE goes at
 * once), ms: a laptop answers within a round trip through the phone, a second or two on a bad
 * mobile link; a socket held silent costs a handshake slot only this long.
 */
export const HELLO_DEADLINE_MS = 5_000;

/** Sources whose failures are remembered at once; the oldest is forgotten first. Bounds memory. */
export const MAX_TRACKED_SOURCES = 10_000;

/** The code a refused connection is closed with. */
export type AdmissionCode = Extract<ErrorCode, "RATE_LIMITED" | "EXIT_BUSY">;

/** Why a connection was not admitted (counted under this reason, exit/metrics.ts). */
export type AdmissionReason =
  /** The source used up its failed-handshake budget. */
  | "failed_handshakes"
  /** The source has maxHandshakesPerSource handshakes in progress. */
  | "source_handshakes"
  /** The exit has maxHandshakes handshakes in progress. */
  | "exit_handshakes";

/** A connection not admitted: the code it is closed with, and why. */
export interface AdmissionRefusal {
  code: AdmissionCode;
  reason: AdmissionReason;
}

/** A TCP connection's place among its source's connections without a session. */
export interface ConnectionSlot {
  /** The connection closed, or carries a session now: its place is free. Safe to call again. */
  release(): void;
}

/** One admitted connection's handshake slot, and the session check at its end. */
export interface Admission {
  /** The handshake ended: `ok` when it led to a session. Frees the slot; safe to call again. */
  done(ok: boolean): void;
  /** Why `clientId` may not start one more session next to `sessions`, or undefined if it may. */
  sessionRefusal(clientId: string, sessions: Iterable<{ clientId: string }>): ErrorCode | undefined;
}

/**
 * The session to give up so that `clientId` may start a new one at its per-key limit: its oldest
 * detached session (most likely the same laptop's earlier life: a restarted `tether` has no resume
 * token), or undefined when all its sessions have a relay.
 */
export function oldestDetached<S extends { clientId: string; detachedAt: number | undefined }>(
  clientId: string,
  sessions: Iterable<S>,
): S | undefined {
  let oldest: S | undefined;
  for (const session of sessions) {
    if (session.clientId !== clientId || session.detachedAt === undefined) continue;
    if (!oldest || session.detachedAt < oldest.detachedAt!) oldest = session;
  }
  return oldest;
}

/**
 * The key a source is counted under (protocol/ip.ts sourceKey: an IPv4 address, an IPv6 /64);
 * what is not an address (a socket already gone) is counted as one source of its own.
 */
function source(address: string): string {
  return sourceKey(address) ?? UNKNOWN_SOURCE;
}

/** Where sockets that report no address are counted together. */
const UNKNOWN_SOURCE = "unknown";

export class AccessLimits {
  private handshakes = 0;
  /** Failed-handshake budgets by source, oldest first (a Map keeps insertion order). */
  private readonly budgets = new Map<string, TokenBucket>();
  /** Handshakes in progress by source; a source at 0 is forgotten (bounded by maxHandshakes). */
  private readonly handshakesBySource = new Map<string, number>();
  /** Connections without a session by source; at 0 forgotten (bounded by the server's maxConnections). */
  private readonly connectionsBySource = new Map<string, number>();
  private readonly maxHandshakesPerSource: number;
  private readonly maxConnectionsPerSource: number;

  constructor(
    private readonly limits: ExitLimits = EXIT_LIMITS,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.maxHandshakesPerSource = limits.maxHandshakesPerSource ?? MAX_HANDSHAKES_PER_SOURCE;
    this.maxConnectionsPerSource = limits.maxConnectionsPerSource ?? MAX_CONNECTIONS_PER_SOURCE;
  }

  /** Handshakes in progress from `address`'s source now. */
  handshakingFrom(address: string): number {
    return this.handshakesBySource.get(source(address)) ?? 0;
  }

  /**
   * A TCP connection from `address`: its place among the source's connections without a session,
   * or undefined when the source holds maxConnectionsPerSource already (cut it).
   */
  connection(address: string): ConnectionSlot | undefined {
    const key = source(address);
    const held = this.connectionsBySource.get(key) ?? 0;
    if (held >= this.maxConnectionsPerSource) return undefined;
    this.connectionsBySource.set(key, held + 1);
    let open = true;
    return {
      release: () => {
        if (!open) return;
        open = false;
        decrement(this.connectionsBySource, key);
      },
    };
  }

  /** Handshakes in progress now. */
  get handshaking(): number {
    return this.handshakes;
  }

  /** Sources with failures remembered now. */
  get trackedSources(): number {
    return this.budgets.size;
  }

  /** A connection from `address`: admitted with a handshake slot, or refused with a code. */
  admit(address: string): Admission | AdmissionRefusal {
    const key = source(address);
    const budget = this.budgets.get(key);
    const now = this.now();
    if (budget) {
      if (budget.full(now)) this.budgets.delete(key);
      else if (!budget.has(1, now)) return { code: "RATE_LIMITED", reason: "failed_handshakes" };
    }
    const fromSource = this.handshakesBySource.get(key) ?? 0;
    if (fromSource >= this.maxHandshakesPerSource)
      return { code: "RATE_LIMITED", reason: "source_handshakes" };
    if (this.handshakes >= this.limits.maxHandshakes) return { code: "EXIT_BUSY", reason: "exit_handshakes" };
    this.handshakes++;
    this.handshakesBySource.set(key, fromSource + 1);
    let open = true;
    return {
      done: (ok) => {
        if (!open) return;
        open = false;
        this.handshakes--;
        decrement(this.handshakesBySource, key);
        if (!ok) this.failed(key);
      },
      sessionRefusal: (clientId, sessions) => {
        let total = 0;
        let mine = 0;
        for (const session of sessions) {
          total++;
          if (session.clientId === clientId) mine++;
        }
        if (total >= this.limits.maxSessions) return "EXIT_BUSY";
        if (mine >= this.limits.maxSessionsPerKey) return "SESSION_LIMIT";
        return undefined;
      },
    };
  }

  private failed(source: string): void {
    const now = this.now();
    let budget = this.budgets.get(source);
    if (!budget) {
      if (this.budgets.size >= MAX_TRACKED_SOURCES) {
        const oldest = this.budgets.keys().next().value;
        if (oldest !== undefined) this.budgets.delete(oldest);
      }
      budget = new TokenBucket(
        1000 / this.limits.failedHandshakeIntervalMs,
        this.limits.failedHandshakeBurst,
        now,
      );
      this.budgets.set(source, budget);
    }
    budget.take(1, now);
  }
}

/** One fewer under `key`; a key at 0 is forgotten, so the map holds only live counts. */
function decrement(counts: Map<string, number>, key: string): void {
  const left = (counts.get(key) ?? 1) - 1;
  if (left > 0) counts.set(key, left);
  else counts.delete(key);
}
