// A laptop's session at the exit: its address, and the tunnel end (one per exit leg) that carries
// it now, if any.
//
//   attached ──leg closes or goes silent──> detached ──grace period ends──> ended (address freed)
//      ^                                       │
//      └────── HELLO with its resume token ────┘   (same address: the laptop's flows carry on)
//
// Sessions are found by address (packets from the TUN) and by resume token (HELLO). The table is
// the one place a session starts, changes leg and ends: whatever ends it (its grace period, its
// key revoked, a newer session of the same key at its limit), SessionTable.end frees its address
// (after its conntrack entries), keeps the gauge and writes the log line.
import type { TunnelEnd } from "../tunnel/end.js";
import { type ReleasablePool, releaseAddress } from "./conntrack.js";
import { DetachedHold } from "./detached-hold.js";
import type { Logger } from "./log.js";
import type { ExitMetrics } from "./metrics.js";

/** How long a session without a relay keeps its address and flows, ms (--grace). */
export const DEFAULT_GRACE_MS = 120_000;

export class Session {
  readonly id: Uint8Array;
  readonly clientId: string;
  readonly address: string;
  readonly addressInt: number;
  readonly resumeToken: Uint8Array;
  /** The resume secret of the handshake that made the session: a resume must prove it (tunnel/noise-messages.ts). */
  readonly resumeSecret: Uint8Array;
  readonly started = Date.now();
  /** The tunnel end of the exit leg carrying the session now; none while detached. */
  end: TunnelEnd | undefined;
  /** When the session lost its relay (Date.now() ms), while detached. */
  detachedAt: number | undefined;
  /** Packets for it while detached, a moment and a few at most, sent first when it resumes. */
  readonly held = new DetachedHold();
  expiryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(fields: {
    id: Uint8Array;
    clientId: string;
    address: string;
    addressInt: number;
    resumeToken: Uint8Array;
    resumeSecret: Uint8Array;
    end: TunnelEnd;
  }) {
    this.id = fields.id;
    this.clientId = fields.clientId;
    this.address = fields.address;
    this.addressInt = fields.addressInt;
    this.resumeToken = fields.resumeToken;
    this.resumeSecret = fields.resumeSecret;
    this.end = fields.end;
  }
}

function tokenKey(token: Uint8Array): string {
  let key = "";
  for (const byte of token) key += byte.toString(16).padStart(2, "0");
  return key;
}

/** Why a session ended, and the line the log says it with. */
export const SESSION_ENDS = {
  expired: "detached session expired: address freed",
  evicted: "detached session given up for a new one",
  revoked: "key revoked: session ended",
} as const;
export type SessionEnd = keyof typeof SESSION_ENDS;

export interface SessionTableOptions {
  graceMs: number;
  /** Where a session's address goes back when it ends. */
  pool: ReleasablePool;
  metrics: Pick<ExitMetrics, "sessions" | "revoked">;
  log: Pick<Logger, "info" | "warn">;
  /** Frees an address after forgetting its flows (default exit/conntrack.ts releaseAddress). */
  release?: typeof releaseAddress;
  /** The session's IPv6 address, if it has one (exit/dual-stack.ts): its flows are forgotten too. */
  address6?: (session: Session) => string | undefined;
}

export class SessionTable {
  private readonly byAddress = new Map<number, Session>();
  private readonly byToken = new Map<string, Session>();

  constructor(private readonly options: SessionTableOptions) {}

  get size(): number {
    return this.byAddress.size;
  }

  get attached(): number {
    let count = 0;
    for (const session of this.byAddress.values()) if (session.end) count++;
    return count;
  }

  /** A new session, carried by the leg its handshake came on. */
  add(session: Session): void {
    this.byAddress.set(session.addressInt, session);
    this.byToken.set(tokenKey(session.resumeToken), session);
    this.counted();
  }

  /** Ends a session, the one way: out of the table, its address freed, the gauge and the log told. */
  end(session: Session, why: SessionEnd): void {
    if (!this.forget(session)) return;
    const { pool, log, metrics } = this.options;
    const address6 = this.options.address6?.(session);
    void (this.options.release ?? releaseAddress)(pool, session.address, log, {
      also: address6 === undefined ? [] : [address6],
    });
    if (why === "revoked") metrics.revoked.inc();
    this.counted();
    log.info({ client: session.clientId, address: session.address, address6 }, SESSION_ENDS[why]);
  }

  /** Out of the table; false when it was not in it (ended already). */
  private forget(session: Session): boolean {
    clearTimeout(session.expiryTimer);
    if (this.byAddress.get(session.addressInt) !== session) return false;
    this.byAddress.delete(session.addressInt);
    this.byToken.delete(tokenKey(session.resumeToken));
    return true;
  }

  private counted(): void {
    this.options.metrics.sessions.set(this.attached);
  }

  byDestination(address: number): Session | undefined {
    return this.byAddress.get(address);
  }

  /** The session a HELLO's resume token names, if it still exists and belongs to that client. */
  byResumeToken(token: Uint8Array, clientId: string): Session | undefined {
    const session = this.byToken.get(tokenKey(token));
    return session?.clientId === clientId ? session : undefined;
  }

  /** The session lost the leg of `end`; it keeps its address for the grace period. */
  detach(session: Session, end: TunnelEnd): void {
    if (session.end !== end) return; // already carried by a newer leg
    session.end = undefined;
    session.detachedAt = Date.now();
    clearTimeout(session.expiryTimer);
    session.expiryTimer = setTimeout(() => this.end(session, "expired"), this.options.graceMs);
    this.counted();
  }

  /** A new leg's end carries the session; returns the end it replaced, if one was still attached. */
  attach(session: Session, end: TunnelEnd): TunnelEnd | undefined {
    clearTimeout(session.expiryTimer);
    session.expiryTimer = undefined;
    session.detachedAt = undefined;
    const previous = session.end;
    session.end = end;
    this.counted();
    return previous;
  }

  all(): IterableIterator<Session> {
    return this.byAddress.values();
  }

  /** Forgets every session now (shutdown: the pool, the TUN and the NAT go with the process). */
  clear(): void {
    for (const session of [...this.byAddress.values()]) this.forget(session);
    this.counted();
  }
}
