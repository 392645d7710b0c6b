// A laptop's session at the exit: its address, and the tunnel end (one per exit leg) that carries
// it now, if any.
//
//   attached ──leg closes or goes silent──> detached ──grace period ends──> expired (address freed)
//      ^                                       │
//      └────── HELLO with its resume token ────┘   (same address: the laptop's flows carry on)
//
// Sessions are found by address (packets from the TUN) and by resume token (HELLO).
import type { TunnelEnd } from "../tunnel/end.js";
import type { ExitMetrics } from "./metrics.js";

/** How long a session without a relay keeps its address and flows, ms (--grace). */
export const DEFAULT_GRACE_MS = 120_000;

export class Session {
  readonly id: Uint8Array;
  readonly clientId: string;
  readonly address: string;
  readonly addressInt: number;
  readonly resumeToken: Uint8Array;
  readonly started = Date.now();
  /** The tunnel end of the exit leg carrying the session now; none while detached. */
  end: TunnelEnd | undefined;
  /** When the session lost its relay (Date.now() ms), while detached. */
  detachedAt: number | undefined;
  expiryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(fields: {
    id: Uint8Array;
    clientId: string;
    address: string;
    addressInt: number;
    resumeToken: Uint8Array;
    end: TunnelEnd;
  }) {
    this.id = fields.id;
    this.clientId = fields.clientId;
    this.address = fields.address;
    this.addressInt = fields.addressInt;
    this.resumeToken = fields.resumeToken;
    this.end = fields.end;
  }

  /**
   * Sends packets from the internet to the laptop, batched. Without a relay (detached) or with
   * the relay backed up, they are dropped and counted: nothing queues while the phone is away,
   * and the inner TCP retransmits once it is back.
   */
  sendPackets(packets: Uint8Array[], metrics: ExitMetrics): void {
    const end = this.end;
    if (!end?.open) {
      metrics.drop("detached", packets.length);
      return;
    }
    const sent = end.sendPackets(packets);
    if (sent.reason) metrics.drop(sent.reason, sent.dropped);
    metrics.relayed("down", sent.packets, sent.bytes);
  }
}

function tokenKey(token: Uint8Array): string {
  let key = "";
  for (const byte of token) key += byte.toString(16).padStart(2, "0");
  return key;
}

export interface SessionTableOptions {
  graceMs: number;
  /** A detached session's grace period ended: free what it held. */
  expired(session: Session): void;
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

  add(session: Session): void {
    this.byAddress.set(session.addressInt, session);
    this.byToken.set(tokenKey(session.resumeToken), session);
  }

  remove(session: Session): void {
    clearTimeout(session.expiryTimer);
    if (this.byAddress.get(session.addressInt) === session) this.byAddress.delete(session.addressInt);
    this.byToken.delete(tokenKey(session.resumeToken));
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
    session.expiryTimer = setTimeout(() => {
      this.remove(session);
      this.options.expired(session);
    }, this.options.graceMs);
  }

  /** A new leg's end carries the session; returns the end it replaced, if one was still attached. */
  attach(session: Session, end: TunnelEnd): TunnelEnd | undefined {
    clearTimeout(session.expiryTimer);
    session.expiryTimer = undefined;
    session.detachedAt = undefined;
    const previous = session.end;
    session.end = end;
    return previous;
  }

  all(): IterableIterator<Session> {
    return this.byAddress.values();
  }

  /** Ends every session now (shutdown). */
  clear(): void {
    for (const session of [...this.byAddress.values()]) this.remove(session);
  }
}
