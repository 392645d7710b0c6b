import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { TunnelEnd } from "../tunnel/end.js";
import { ExitMetrics } from "./metrics.js";
import { SESSION_ENDS, Session, SessionTable } from "./session.js";

/** A leg's tunnel end, as the table sees it: only its identity matters here. */
const leg = (): TunnelEnd => ({}) as TunnelEnd;

function session(address: number, token: number, relay: TunnelEnd): Session {
  return new Session({
    id: new Uint8Array(16),
    clientId: "laptop",
    address: `10.77.0.${address}`,
    addressInt: 0x0a4d0000 + address,
    resumeToken: new Uint8Array(32).fill(token),
    resumeSecret: new Uint8Array(32),
    end: relay,
  });
}

/** A table whose ends are recorded: addresses freed, log lines, the metrics. */
function recordingTable(graceMs: number) {
  const freed: string[] = [];
  const lines: string[] = [];
  const metrics = new ExitMetrics();
  const log = { info: (_fields: object, line: string) => lines.push(line), warn: () => undefined };
  const table = new SessionTable({
    graceMs,
    pool: { release: (address) => freed.push(address) },
    metrics,
    log: log as never,
    release: async (pool, address) => pool.release(address),
  });
  const gauge = async () => (await metrics.sessions.get()).values[0]?.value;
  return { table, freed, lines, metrics, gauge };
}

describe("detached sessions", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("keep their address for the grace period, then expire and are gone", async () => {
    const { table, freed, lines } = recordingTable(120_000);
    const relay = leg();
    const subject = session(2, 1, relay);
    table.add(subject);
    table.detach(subject, relay);
    vi.advanceTimersByTime(119_999);
    expect(table.byDestination(0x0a4d0002)).toBe(subject);
    expect(table.byResumeToken(new Uint8Array(32).fill(1), "laptop")).toBe(subject);
    vi.advanceTimersByTime(1);
    await Promise.resolve();
    expect(freed).toEqual(["10.77.0.2"]);
    expect(lines).toEqual([SESSION_ENDS.expired]);
    expect(table.byDestination(0x0a4d0002)).toBeUndefined();
    expect(table.byResumeToken(new Uint8Array(32).fill(1), "laptop")).toBeUndefined();
  });

  it("do not expire once a new leg has resumed them", () => {
    const { table, freed } = recordingTable(1_000);
    const first = leg();
    const subject = session(2, 1, first);
    table.add(subject);
    table.detach(subject, first);
    vi.advanceTimersByTime(500);
    const second = leg();
    expect(table.attach(subject, second)).toBeUndefined();
    vi.advanceTimersByTime(10_000);
    expect(freed).toEqual([]);
    expect(subject.end).toBe(second);
  });

  it("ignore the close of a leg that a newer leg already replaced", () => {
    const { table } = recordingTable(1_000);
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
    const { table } = recordingTable(1_000);
    table.add(session(2, 7, leg()));
    expect(table.byResumeToken(new Uint8Array(32).fill(7), "someone-else")).toBeUndefined();
  });
});

describe("the session table", () => {
  it("ends a session in one place: out of the table, its address freed, counted and logged once", async () => {
    const { table, freed, lines, metrics } = recordingTable(1_000);
    const subject = session(5, 3, leg());
    table.add(subject);
    table.end(subject, "revoked");
    table.end(subject, "revoked"); // already ended: nothing more
    await Promise.resolve();
    expect(table.byDestination(0x0a4d0005)).toBeUndefined();
    expect(freed).toEqual(["10.77.0.5"]);
    expect(lines).toEqual([SESSION_ENDS.revoked]);
    expect((await metrics.revoked.get()).values[0]?.value).toBe(1);
  });

  it("keeps the gauge of sessions with a leg as legs come and go", async () => {
    const { table, gauge } = recordingTable(1_000);
    const first = leg();
    const subject = session(2, 1, first);
    table.add(subject);
    expect(await gauge()).toBe(1);
    table.detach(subject, first);
    expect(await gauge()).toBe(0);
    table.attach(subject, leg());
    expect(await gauge()).toBe(1);
    table.end(subject, "evicted");
    expect(await gauge()).toBe(0);
  });
});

describe("a dual-stack session", () => {
  it("has its IPv6 address's flows forgotten with its IPv4 address's when it ends", async () => {
    const released: { address: string; also: readonly string[] | undefined }[] = [];
    const table = new SessionTable({
      graceMs: 1_000,
      pool: { release: () => undefined },
      metrics: new ExitMetrics(),
      log: { info: () => undefined, warn: () => undefined } as never,
      release: async (_pool, address, _log, options) => {
        released.push({ address, also: options?.also });
      },
      address6: (session) => `fd77:e2e::${session.addressInt & 0xff}`,
    });
    const subject = session(5, 1, leg());
    table.add(subject);
    table.end(subject, "expired");
    expect(released).toEqual([{ address: "10.77.0.5", also: ["fd77:e2e::5"] }]);
  });
});
