import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { TunnelEnd } from "../tunnel/end.js";
import { Session, SessionTable } from "./session.js";

/** A leg's tunnel end, as the table sees it: only its identity matters here. */
const leg = (): TunnelEnd => ({}) as TunnelEnd;

function session(address: number, token: number, relay: TunnelEnd): Session {
  return new Session({
    id: new Uint8Array(16),
    clientId: "laptop",
    address: `10.77.0.${address}`,
    addressInt: 0x0a4d0000 + address,
    resumeToken: new Uint8Array(32).fill(token),
    end: relay,
  });
}

describe("detached sessions", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("keep their address for the grace period, then expire and are gone", () => {
    const expired: Session[] = [];
    const table = new SessionTable({ graceMs: 120_000, expired: (s) => expired.push(s) });
    const relay = leg();
    const subject = session(2, 1, relay);
    table.add(subject);
    table.detach(subject, relay);
    vi.advanceTimersByTime(119_999);
    expect(table.byDestination(0x0a4d0002)).toBe(subject);
    expect(table.byResumeToken(new Uint8Array(32).fill(1), "laptop")).toBe(subject);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual([subject]);
    expect(table.byDestination(0x0a4d0002)).toBeUndefined();
    expect(table.byResumeToken(new Uint8Array(32).fill(1), "laptop")).toBeUndefined();
  });

  it("do not expire once a new leg has resumed them", () => {
    const expired: Session[] = [];
    const table = new SessionTable({ graceMs: 1_000, expired: (s) => expired.push(s) });
    const first = leg();
    const subject = session(2, 1, first);
    table.add(subject);
    table.detach(subject, first);
    vi.advanceTimersByTime(500);
    const second = leg();
    expect(table.attach(subject, second)).toBeUndefined();
    vi.advanceTimersByTime(10_000);
    expect(expired).toEqual([]);
    expect(subject.end).toBe(second);
  });

  it("ignore the close of a leg that a newer leg already replaced", () => {
    const table = new SessionTable({ graceMs: 1_000, expired: () => undefined });
    const old = leg();
    const subject = session(2, 1, old);
    table.add(subject);
    const fresh = leg();
    expect(table.attach(subject, fresh)).toBe(old);
    table.detach(subject, old);
    expect(subject.end).toBe(fresh);
    expect(subject.detachedAt).toBeUndefined();
  });

  it("are resumed only by the client that owns them", () => {
    const table = new SessionTable({ graceMs: 1_000, expired: () => undefined });
    table.add(session(2, 7, leg()));
    expect(table.byResumeToken(new Uint8Array(32).fill(7), "someone-else")).toBeUndefined();
  });
});
