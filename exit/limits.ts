// Who may take the exit's time: every connection is admitted (or refused) before its CHALLENGE, and
// every new session is checked against the session limits before it gets an address.
//
//   connection from S ──> S over its failed-handshake budget? ── yes ──> RATE_LIMITED
//                          handshakes in progress at the limit? ── yes ──> EXIT_BUSY
//                          admitted: one handshake slot, until WELCOME or the connection ends
//   HELLO authenticated ─> sessions at the limit? ── yes ──> EXIT_BUSY
//                          this key's sessions at the limit? ── yes ──> SESSION_LIMIT
//
// A failed handshake (wrong key, no common version, timeout, malformed frame) costs its source a
// token; tokens come back slowly. IPv6 sources are counted per /64, the block one host gets.
// Pure apart from the clock, which the caller may pass.
import type { ErrorCode } from "../protocol/errors.js";
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
}

export const EXIT_LIMITS: ExitLimits = {
  maxHandshakes: 64,
  maxSessions: 1024,
  maxSessionsPerKey: 4,
  failedHandshakeBurst: 10,
  failedHandshakeIntervalMs: 6_000,
};

/** Sources whose failures are remembered at once; the oldest is forgotten first. Bounds memory. */
export const MAX_TRACKED_SOURCES = 10_000;

/** Why a connection was not admitted. */
export type AdmissionRefusal = Extract<ErrorCode, "RATE_LIMITED" | "EXIT_BUSY">;

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

/** The key a source is counted under: its IPv4 address, or its IPv6 /64. */
export function sourceKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(":")) return address;
  const [head = "", tail] = address.split("::");
  const headGroups = head ? head.split(":") : [];
  const tailGroups = tail ? tail.split(":") : [];
  const missing = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...new Array<string>(Math.max(0, missing)).fill("0"), ...tailGroups];
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}

export class AccessLimits {
  private handshakes = 0;
  /** Failed-handshake budgets by source, oldest first (a Map keeps insertion order). */
  private readonly budgets = new Map<string, TokenBucket>();

  constructor(
    private readonly limits: ExitLimits = EXIT_LIMITS,
    private readonly now: () => number = () => performance.now(),
  ) {}

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
    const source = sourceKey(address);
    const budget = this.budgets.get(source);
    const now = this.now();
    if (budget) {
      if (budget.full(now)) this.budgets.delete(source);
      else if (!budget.has(1, now)) return "RATE_LIMITED";
    }
    if (this.handshakes >= this.limits.maxHandshakes) return "EXIT_BUSY";
    this.handshakes++;
    let open = true;
    return {
      done: (ok) => {
        if (!open) return;
        open = false;
        this.handshakes--;
        if (!ok) this.failed(source);
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
